"""Text from a trained run: load a checkpoint and its tokenizer, generate with the KV cache, decode.

The prompt is preceded by ``<|endoftext|>``, the token that precedes every document in the shards
(each document ends with it), so the model sees the prompt as the start of a document. Generation
stops at the next ``<|endoftext|>``.

Chat mode renders the prompt as the opening of a conversation in the chat template of
``docs/instruct.md``: ``<|endoftext|> [<|system|> SYSTEM] <|query|> PROMPT <|answer|>``, each text
encoded on its own so the control tokens are the reserved ids, and stops at ``<|endoftext|>`` or at a
``<|query|>`` (the model starting the next user turn). A thinking block, if the model writes one, is
dropped from the returned answer.

Generation runs where training would (``device="auto"``: the GPU when there is one) under the same
autocast precision as training (bf16 from compute capability 8.0, else fp16; fp32 on CPU).
"""

from __future__ import annotations

from pathlib import Path

import torch

from garimpo.core import ArtifactError
from garimpo.core.formats import (
    ANSWER_TOKEN,
    EOS_TOKEN,
    QUERY_TOKEN,
    SYSTEM_TOKEN,
    THINK_TOKEN,
    TOKENIZER_FILE,
)
from garimpo.core.fs import sha256_file
from model.gpt import GPT, GPTConfig
from train.checkpoint import load_checkpoint
from train.device import autocast, pick_device, pick_precision
from train.tokenizer import Tokenizer


def load_model(run_dir_or_checkpoint: str | Path, device: str = "cpu") -> tuple[GPT, dict]:
    """The model of a checkpoint file (or a run folder's latest), in eval mode, and the raw state.

    ``device`` is a name (``"auto"``: CUDA when present); the raw state stays in CPU memory.
    """
    state = load_checkpoint(run_dir_or_checkpoint)
    model = GPT(GPTConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model"])
    return model.to(pick_device(device)).eval(), state


def run_tokenizer(run_dir_or_checkpoint: str | Path, state: dict) -> Tokenizer:
    """The run's copy of the shards' tokenizer, checked against the sha256 in the checkpoint."""
    path = Path(run_dir_or_checkpoint)
    run_dir = path if path.is_dir() else path.parent
    tok_path = run_dir / TOKENIZER_FILE
    if not tok_path.is_file():
        raise ArtifactError(f"{run_dir} has no {TOKENIZER_FILE} (the shards named no tokenizer_file)")
    expected = state["lineage"].get("tokenizer_sha256")
    if expected and sha256_file(tok_path) != expected:
        raise ArtifactError(f"{tok_path} does not match the tokenizer_sha256 the run trained with")
    return Tokenizer(tok_path)


def generate_text(
    run_dir_or_checkpoint: str | Path,
    prompt: str,
    max_new_tokens: int = 128,
    temperature: float = 0.8,
    top_k: int | None = 50,
    top_p: float | None = 0.95,
    seed: int | None = 0,
    device: str = "auto",
    chat: bool = False,
    system: str | None = None,
) -> str:
    """Continue ``prompt`` (or, with ``chat``, answer it) with the model of a run folder or checkpoint.

    ``seed=None`` samples differently on every call; ``temperature <= 0`` is greedy.
    """
    model, state = load_model(run_dir_or_checkpoint, device)
    tok = run_tokenizer(run_dir_or_checkpoint, state)
    special = {
        name: tok.token_to_id(name)
        for name in (EOS_TOKEN, SYSTEM_TOKEN, QUERY_TOKEN, ANSWER_TOKEN, THINK_TOKEN)
    }
    needed = (EOS_TOKEN, QUERY_TOKEN, ANSWER_TOKEN) if chat else (EOS_TOKEN,)
    missing = [name for name in needed if special[name] is None]
    if missing:
        raise ArtifactError(f"{tok.path} lacks the special token(s) {missing}")
    eos, query, think = special[EOS_TOKEN], special[QUERY_TOKEN], special[THINK_TOKEN]
    if chat:
        head = [eos, special[SYSTEM_TOKEN], *tok.encode(system)] if system else [eos]
        ids = [*head, query, *tok.encode(prompt), special[ANSWER_TOKEN]]
        stops = {eos, query}
    else:
        ids, stops = [eos, *tok.encode(prompt)], {eos}
    ids = ids[-max(1, model.cfg.seq_len - max_new_tokens) :]  # keep the end of an over-long prompt
    on = model.embed_tokens.weight.device
    with torch.no_grad(), autocast(on, pick_precision(on, "auto")):
        new = model.generate(
            ids,
            min(max_new_tokens, model.cfg.seq_len - len(ids)),
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            stop_token=stops,
            seed=seed,
        )
    if chat and think in new[:1]:  # <|think|> ... <|think|> answer: keep the answer
        rest = new[1:]
        new = rest[rest.index(think) + 1 :] if think in rest else []
    return tok.decode(new, skip_special_tokens=True)
