"""The exported folder decodes like garimpo: transformers' generate and pipeline give the same greedy
text as ``garimpo generate``, its tokenizer starts prompts with <|endoftext|>, and its chat template
renders the conversation garimpo's chat mode does."""

from __future__ import annotations

import json

import pytest
import torch

from garimpo.cli import main as cli_main
from garimpo.core.formats import ANSWER_TOKEN, EOS_TOKEN, QUERY_TOKEN, SYSTEM_TOKEN
from tests.train_shards import corpus, publish_shards, small_cfg
from train.sample import generate_text, load_model
from train.tokenizer import Tokenizer
from train.trainer import train

transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")

PROMPTS = ["A menina encontrou", "O garimpeiro", "Era uma vez, no coração de Minas,"]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus(200, seed=4)


@pytest.fixture(scope="module")
def exported(store, texts, tokenizer_json, tmp_path_factory):
    shards = publish_shards(store, "hf", texts, tokenizer_json)
    result = train(
        small_cfg(max_steps=30, eval_every=0, checkpoint_every=0), shards.ref, store.root, run_name="hf"
    )
    out = tmp_path_factory.mktemp("hf") / "model"
    assert (
        cli_main(["--artifacts", str(store.root), "export", "--run", str(result.run_dir), "--out", str(out)])
        == 0
    )
    return result.run_dir, out


def test_generate_and_pipeline_give_the_same_greedy_text(exported):
    run_dir, out = exported
    hf_tok = transformers.AutoTokenizer.from_pretrained(out)
    hf = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    pipe = transformers.pipeline("text-generation", model=hf, tokenizer=hf_tok, device="cpu")
    tok = Tokenizer(run_dir / "tokenizer.json")
    eos = tok.token_to_id(EOS_TOKEN)
    texts = []
    for prompt in PROMPTS:
        ours = generate_text(run_dir, prompt, max_new_tokens=24, temperature=0, device="cpu")
        ids = hf_tok(prompt, return_tensors="pt").input_ids
        assert ids[0].tolist() == [eos, *tok.encode(prompt)]  # the same context garimpo builds
        with torch.no_grad():
            gen = hf.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=24)
        assert hf_tok.decode(gen[0, ids.size(1) :], skip_special_tokens=True) == ours
        piped = pipe(prompt, max_new_tokens=24, do_sample=False, return_full_text=False)[0]["generated_text"]
        assert piped == ours
        texts.append(ours)
    assert any(t.strip() for t in texts)  # a trained model writes something, not only <|endoftext|>


def test_generation_config_and_chat_template(exported):
    run_dir, out = exported
    tok = Tokenizer(run_dir / "tokenizer.json")
    ids = {t: tok.token_to_id(t) for t in (EOS_TOKEN, SYSTEM_TOKEN, QUERY_TOKEN, ANSWER_TOKEN)}
    gen = json.loads((out / "generation_config.json").read_text())
    assert gen["eos_token_id"] == gen["pad_token_id"] == gen["bos_token_id"] == ids[EOS_TOKEN]
    config = json.loads((out / "config.json").read_text())
    assert config["pad_token_id"] == ids[EOS_TOKEN]
    hf_tok = transformers.AutoTokenizer.from_pretrained(out)
    assert hf_tok.pad_token == EOS_TOKEN
    messages = [
        {"role": "system", "content": "Responda em português."},
        {"role": "user", "content": "O que a avó guardou?"},
    ]
    rendered = hf_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if isinstance(rendered, dict) or hasattr(rendered, "input_ids"):
        rendered = rendered["input_ids"]
    expected = [
        ids[EOS_TOKEN], ids[SYSTEM_TOKEN], *tok.encode("Responda em português."),
        ids[QUERY_TOKEN], *tok.encode("O que a avó guardou?"), ids[ANSWER_TOKEN],
    ]  # fmt: skip
    assert list(rendered) == expected
    model, _ = load_model(run_dir)
    new = model.generate(expected, 12, temperature=0, stop_token={ids[EOS_TOKEN], ids[QUERY_TOKEN]})
    answer = generate_text(
        run_dir, "O que a avó guardou?", max_new_tokens=12, temperature=0, chat=True,
        system="Responda em português.", device="cpu",
    )  # fmt: skip
    assert answer == tok.decode(new, skip_special_tokens=True)


def test_half_precision_export_loads_in_its_dtype(exported, tmp_path):
    run_dir, _ = exported
    out = tmp_path / "bf16"
    assert cli_main(["export", "--run", str(run_dir), "--out", str(out), "--dtype", "bf16"]) == 0
    hf = transformers.AutoModelForCausalLM.from_pretrained(out)
    assert next(hf.parameters()).dtype == torch.bfloat16
    ours, _ = load_model(run_dir)
    x = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        assert torch.allclose(hf(x).logits.float(), ours(x)[0], atol=0.1)
