"""The simulation's stages, in trial order; each is ``run(ctx: SimContext) -> dict`` (a summary)."""
