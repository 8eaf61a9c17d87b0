"""Export a training run to the Hugging Face Llama layout (``garimpo export``).

The run folder has everything needed: the checkpoint (latest, ``best.pt`` or a named file) and the
tokenizer copy whose sha256 the checkpoint records. The lineage (shards versions seen) goes into the
exported folder as ``garimpo.json`` so a published model names the data it was trained on.

The chat template written for ``apply_chat_template`` is the one of ``docs/instruct.md`` as
``garimpo generate --chat`` renders it: ``<|endoftext|> [<|system|> SYSTEM] (<|query|> USER
<|answer|> ANSWER)+``, ending with ``<|answer|>`` when a generation prompt is asked for and with
``<|endoftext|>`` after a closing answer otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

from garimpo.core.formats import ANSWER_TOKEN, EOS_TOKEN, QUERY_TOKEN, SYSTEM_TOKEN
from model.export_hf import export_hf
from train.checkpoint import BEST
from train.sample import load_model, run_tokenizer

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    f"{{% if m['role'] == 'system' %}}{SYSTEM_TOKEN}{{{{ m['content'] }}}}"
    f"{{% elif m['role'] == 'user' %}}{QUERY_TOKEN}{{{{ m['content'] }}}}"
    f"{{% else %}}{ANSWER_TOKEN}{{{{ m['content'] }}}}{{% endif %}}"
    "{% endfor %}"
    f"{{% if add_generation_prompt %}}{ANSWER_TOKEN}{{% else %}}{{{{ eos_token }}}}{{% endif %}}"
)


def export_run(
    run_dir_or_checkpoint: str | Path, out_dir: str | Path, best: bool = False, dtype: str = "fp32"
) -> Path:
    """Write ``config.json``, ``model.safetensors``, the tokenizer and ``garimpo.json`` to ``out_dir``.

    ``best`` picks the run's ``best.pt`` (lowest validation loss) instead of its latest checkpoint;
    ``dtype`` is that of the written weights (``fp32``, ``bf16``, ``fp16``).
    """
    source = Path(run_dir_or_checkpoint)
    if best:
        source = (source if source.is_dir() else source.parent) / BEST
    model, state = load_model(source)
    tok = run_tokenizer(source, state)
    eos = tok.token_to_id(EOS_TOKEN)
    out = export_hf(
        model, out_dir, tok.path, eos, eos_token=EOS_TOKEN, chat_template=CHAT_TEMPLATE, dtype=dtype
    )
    info = {"step": state["step"], "tokens_seen": state["tokens_seen"], "lineage": state["lineage"]}
    (out / "garimpo.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    return out
