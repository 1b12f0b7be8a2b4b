"""Score mode vs generate mode of the LLM process judge on the same steps: agreement and time per step.

Takes the first N steps of a trajectories file (``swirl generate`` output) and judges them in
chunks, each chunk once in score mode and once in generate mode with the same judge model
(the LLMProcessJudge of ``swirl judge``). After every chunk it prints, for the steps so far,
the agreement of the two modes' verdicts (steps left UNPARSED counted apart), Cohen's kappa,
the confusion table, the seconds per step of each mode and the length of the replies that
reached a verdict.

    python benchmarks/judge_agreement.py trajectories.jsonl [--steps 100] [--judge default]
        [--backend hf] [--chunk 16] [--max-tokens 128] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from swirl.backends import make_backend
from swirl.judges.base import steps_of
from swirl.judges.process import GENERATE_MAX_TOKENS, LLMProcessJudge
from swirl.stages.judge import read_trajectories


def cohen_kappa(pairs: list[tuple[str, str]]) -> float:
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[v] * second[v] for v in ("GOOD", "BAD")) / (n * n)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trajectories", type=Path)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--judge", default="default")
    parser.add_argument("--backend", default="hf")
    parser.add_argument("--chunk", type=int, default=16, help="steps per judge call (as swirl judge --chunk-size)")
    parser.add_argument("--max-tokens", type=int, default=GENERATE_MAX_TOKENS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    steps = [step for trajectory in read_trajectories(args.trajectories) for step in steps_of(trajectory)][: args.steps]
    backend = make_backend(args.judge, args.backend, batch_size=args.chunk)
    judges = {
        "score": LLMProcessJudge(backend, mode="score", name=args.judge),
        "generate": LLMProcessJudge(backend, mode="generate", name=args.judge, max_tokens=args.max_tokens),
    }
    verdicts: dict[str, list] = {mode: [] for mode in judges}
    seconds = dict.fromkeys(judges, 0.0)
    # Chunk by chunk, both modes on the same steps, so that an interrupted run still compares like with like.
    for start in range(0, len(steps), args.chunk):
        chunk = steps[start : start + args.chunk]
        for mode, judge in judges.items():
            began = time.perf_counter()
            verdicts[mode] += judge.judge(chunk)
            seconds[mode] += time.perf_counter() - began
        result = summarize(verdicts, seconds, backend, args)
        print(json.dumps(result), flush=True)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    backend.close()
    print(f"generate/score time per step: {result['generate_seconds_per_step'] / result['score_seconds_per_step']:.1f}x")


def summarize(verdicts: dict[str, list], seconds: dict[str, float], backend, args) -> dict:
    scored, generated = verdicts["score"], verdicts["generate"]
    pairs = [(s.verdict, g.verdict) for s, g in zip(scored, generated)]
    parsed = [(s, g) for s, g in pairs if "UNPARSED" not in (s, g)]
    # How long the replies that reached a verdict were: what the token budget must leave room for.
    lengths = sorted(backend.count_tokens(g.rationale) or 0 for g in generated if g.verdict != "UNPARSED")
    return {
        "steps": len(pairs),
        "judge": args.judge,
        "backend": args.backend,
        "generate_max_tokens": args.max_tokens,
        "score_seconds_per_step": seconds["score"] / len(pairs),
        "generate_seconds_per_step": seconds["generate"] / len(pairs),
        "generate_unparsed": sum(g == "UNPARSED" for _, g in pairs),
        "verdict_reply_tokens_median": lengths[len(lengths) // 2] if lengths else None,
        "verdict_reply_tokens_max": lengths[-1] if lengths else None,
        "score_good": sum(s == "GOOD" for s, _ in pairs),
        "generate_good": sum(g == "GOOD" for _, g in pairs),
        "compared": len(parsed),
        "agreement": sum(s == g for s, g in parsed) / len(parsed) if parsed else None,
        "cohen_kappa": cohen_kappa(parsed) if parsed else None,
        "confusion_score_vs_generate": {f"{s}/{g}": n for (s, g), n in sorted(Counter(pairs).items())},
    }


if __name__ == "__main__":
    main()
