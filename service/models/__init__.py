"""Model backends behind one registry. Only the backend modules import torch, transformers or ctranslate2.

Where things are, each layer importing only from the ones above it:

    base            the protocols the pipeline sees; ModelSpec, LoadContext (device, offline), and
                    GenerationParams
    registry        @register_backend("seq2seq"), create_model(); a miss lists the names
    options         per-model options both generative backends read: runtime, compute_type,
                    force_output_tokens (benchmarks only)
    decoding        Request, Decode, the two runtime interfaces, decoder start and end tokens
    batching        MicroBatcher: batching across requests, per-row budgets and stop signals
    row_stops       RowStops: the CTranslate2 step callback that ends each row of a batch on its own
    batch_costs     what a batch costs before it decodes: its memory cap, how fast prompts are read
    convert_cache   cache entries keyed by source identity and converter revision; build_once
    assets          packaged weights ("packaged:<name>")
    hf_files        a Hugging Face folder's configs as JSON; transformers' tokenizer for it, without torch
    tokenizer_json  the CTranslate2 runtime's tokenizer: tokenizer.json and the chat template, without
                    transformers
    sources         a local folder or a hub snapshot, offline from LoadContext only; one hint for a miss
    families        seq2seq families (plain, T5, Marian, M2M100, mBART-50, NLLB), one class each
    seq2seq_text    a seq2seq model's tokenizer side: prompts, input ids, forced prefixes, decoding
    ct2_runtime     the CTranslate2 runtimes: one batching base, a Translator and a Generator subclass
    ct2_convert     CTranslate2 conversion into the cache, and verify_conversion with a policy per backend
    torch_support   what both transformers runtimes share: the stop criterion, threads (imports torch)
    seq2seq_torch   the seq2seq transformers runtime (imports torch)
    llm_torch       the llm transformers runtime and GGUF dequantization (imports torch)
    llm_prompts     the llm's prompts and the clean-up of its answers
    llm_ct2         the llm's CTranslate2 runtime for one load: batching, layout, checked conversion
    seq2seq, llm    the backends; extractive, the weightless one

A server whose models all run on CTranslate2 never imports torch once their conversions are cached: the
backends import the `*_torch` modules only for the transformers runtime, a fresh conversion, or a GGUF file.
Nor does it import transformers when each model folder has a tokenizer.json without language state
(`tokenizer_json`): the LLMs, BART and T5 do; Marian, M2M100, mBART-50 and NLLB need transformers.
"""
