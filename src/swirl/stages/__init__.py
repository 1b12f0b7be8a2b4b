"""The pipeline's stages, one module each, in order:

    generate -> judge -> filter -> split -> train -> eval

Each stage module holds the stage's settings model (the options of its `swirl` verb and
its section of `swirl run`'s YAML) and the function both call; the machinery they drive
lives in the packages below them (rollout, judges, backends, tools, training, evaluation).
"""
