"""Pure signal builders (arrays in, arrays out) and the immutable per-namespace Snapshot."""
