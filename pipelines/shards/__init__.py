"""Token shards: a corpus version encoded with a tokenizer version into the uint16 files the trainer reads.

The format (datatrove's ``DocumentTokenizer`` layout: ``.ds`` + ``.ds.index`` [+ ``.ds.loss``],
``sft-*`` for instruction data) belongs to `garimpo.core.formats`, which writes and reads it for both
halves of garimpo; this package decides what goes into the files. One module per job:

* `settings`: `ShardSettings`, read from ``garimpo/configs/shards/default.toml`` (the only defaults);
* `split`:    the train/val split, a hash of the document id (`validation_ids`);
* `mix`:      source weights and the document stream they give (`copies`);
* `encode`:   the bounded thread/process pool that turns texts into token ids, in order;
* `resume`:   the work folder whose per-shard markers let a killed build resume to the same bytes;
* `instruct`: conversations rendered by the chat template into ``sft-*`` shards with loss masks;
* `build`:    `build_shards`, which checks the inputs, runs the steps and publishes the version.

Shard readers import `read_documents` and `ShardWriter` from `garimpo.core.formats`, not from here.
"""

from pipelines.shards.build import build_shards
from pipelines.shards.mix import copies
from pipelines.shards.settings import ShardSettings, load_shard_settings
from pipelines.shards.split import validation_ids

__all__ = ["ShardSettings", "build_shards", "copies", "load_shard_settings", "validation_ids"]
