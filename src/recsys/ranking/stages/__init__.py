"""The pipeline's stages, one module each, in the order `recsys.ranking.pipeline.STAGES` runs
them: propose → exclude → constrain → blend → personalise → rules → diversify."""
