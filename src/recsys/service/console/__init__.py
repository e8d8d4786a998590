"""The console: server-rendered pages over the same store and flows as the API."""
