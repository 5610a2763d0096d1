"""A model folder's tokenizer without transformers: tokenizer.json run by the `tokenizers` library, the
special tokens and settings of tokenizer_config.json, and the chat template rendered with jinja2.

The CTranslate2 runtime needs little of a tokenizer: a text's ids, a conversation's prompt ids, ids back to
text and to token strings, and a few named tokens. transformers does the same on top of the same
tokenizer.json, but importing it takes seconds at start and its package is most of what a CTranslate2-only
image would otherwise carry. `TokenizerJson` does those few things with the same results (the tests compare
it with transformers on real and tiny models), so a CTranslate2 server imports neither torch nor transformers.

It does not serve every folder. `runtime_tokenizer` falls back to transformers' tokenizer, which then must be
installed, for the transformers runtime and for folders it cannot read the same way:
- a sentencepiece model without tokenizer.json (Marian/OPUS-MT, M2M100): transformers' own Python code
  tokenizes those, with the sentencepiece package;
- a tokenizer that keeps languages as state (mBART, mBART-50, NLLB, Marian: `src_lang` and friends in
  tokenizer_config.json), whose transformers class rewrites the special tokens for each source language.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from service.errors import ModelLoadError
from service.models.hf_files import load_tokenizer, read_json

log = logging.getLogger(__name__)

# The named special tokens of tokenizer_config.json, which chat templates may read by these names.
SPECIAL_TOKEN_NAMES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)
# Settings that make transformers' tokenizer class change the special tokens per request.
LANGUAGE_STATE_KEYS = ("src_lang", "tgt_lang", "source_lang", "target_lang")
# What transformers reports as the length limit of a tokenizer that names none.
NO_LENGTH_LIMIT = int(1e30)


def runtime_tokenizer(folder: Path, runtime: str, model: str) -> Any:
    """The tokenizer `runtime` uses for `folder`: a TokenizerJson for CTranslate2 where it serves the folder,
    else transformers' tokenizer class for it."""
    reason = unsupported(folder) if runtime == "ctranslate2" else f"the {runtime} runtime"
    if reason is None:
        return TokenizerJson(folder)
    log.debug("%s: transformers' tokenizer (%s)", model, reason)
    try:
        return load_tokenizer(folder)
    except ImportError as err:
        raise ModelLoadError(
            f"model {model!r}: its tokenizer needs transformers ({reason}), which is not installed; "
            "serve it from the full image or an environment with the models extra"
        ) from err


def unsupported(folder: Path) -> str | None:
    """Why TokenizerJson would not tokenize `folder` as transformers does, or None when it would."""
    if not (folder / "tokenizer.json").is_file():
        return "no tokenizer.json: a sentencepiece or vocabulary-file tokenizer"
    config = _tokenizer_config(folder)
    state = [key for key in LANGUAGE_STATE_KEYS if key in config]
    if state:
        return f"a tokenizer with language state ({', '.join(state)} in tokenizer_config.json)"
    return None


def _tokenizer_config(folder: Path) -> dict[str, Any]:
    path = folder / "tokenizer_config.json"
    return read_json(path) if path.is_file() else {}


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json spells it: a string, or a serialized AddedToken."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


class TokenizerJson:
    """The parts of transformers' tokenizer interface the service uses, on tokenizer.json alone.

    Stateless once built, so several threads may use one instance.
    """

    def __init__(self, folder: Path) -> None:
        from tokenizers import AddedToken, Tokenizer

        config = _tokenizer_config(folder)
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.special_tokens = {
            name: text for name in SPECIAL_TOKEN_NAMES if (text := _token_text(config.get(name))) is not None
        }
        # As transformers does: named and extra special tokens the file does not hold as added tokens are
        # added, as special tokens (an existing vocabulary entry keeps its id).
        extra = config.get("extra_special_tokens") or config.get("additional_special_tokens") or []
        if isinstance(extra, dict):
            extra = list(extra.values())
        added = {str(token.content) for token in self._tokenizer.get_added_tokens_decoder().values()}
        wanted = [*self.special_tokens.values(), *(t for t in map(_token_text, extra) if t)]
        missing = list(dict.fromkeys(t for t in wanted if t not in added))
        if missing:
            self._tokenizer.add_special_tokens([AddedToken(t, special=True) for t in missing])
        if "add_bos_token" in config or "add_eos_token" in config:
            self._set_post_processor(bool(config.get("add_bos_token")), bool(config.get("add_eos_token")))
        limit = config.get("model_max_length")
        self.model_max_length = int(limit) if isinstance(limit, int | float) else NO_LENGTH_LIMIT
        # transformers skips the clean-up for BPE models, which it would corrupt.
        self._clean_up_spaces = bool(config.get("clean_up_tokenization_spaces", False)) and (
            type(self._tokenizer.model).__name__ != "BPE"
        )
        self.chat_template = _chat_template(folder, config)
        self._compiled_template = (
            None if self.chat_template is None else _compile_template(self.chat_template)
        )

    def _set_post_processor(self, add_bos: bool, add_eos: bool) -> None:
        """The special tokens around a text that the add_bos_token and add_eos_token settings ask for."""
        from tokenizers.processors import TemplateProcessing

        bos = self.special_tokens.get("bos_token") if add_bos else None
        eos = self.special_tokens.get("eos_token") if add_eos else None
        pieces = [p for p in (bos and f"{bos}:0", "$A:0", eos and f"{eos}:0") if p]
        pair = [*pieces, *(p for p in (bos and f"{bos}:1", "$B:1", eos and f"{eos}:1") if p)]
        ids = [(t, self._tokenizer.token_to_id(t)) for t in (bos, eos) if t]
        self._tokenizer.post_processor = TemplateProcessing(
            single=" ".join(pieces), pair=" ".join(pair), special_tokens=ids
        )

    # -- named tokens ------------------------------------------------------------------------------

    def _token_id(self, name: str) -> int | None:
        token = self.special_tokens.get(name)
        return None if token is None else self._tokenizer.token_to_id(token)

    @property
    def bos_token(self) -> str | None:
        return self.special_tokens.get("bos_token")

    @property
    def eos_token(self) -> str | None:
        return self.special_tokens.get("eos_token")

    @property
    def bos_token_id(self) -> int | None:
        return self._token_id("bos_token")

    @property
    def eos_token_id(self) -> int | None:
        return self._token_id("eos_token")

    @property
    def unk_token_id(self) -> int | None:
        return self._token_id("unk_token")

    @property
    def pad_token_id(self) -> int | None:
        return self._token_id("pad_token")

    def __len__(self) -> int:
        return int(self._tokenizer.get_vocab_size(with_added_tokens=True))

    # -- tokens and ids ----------------------------------------------------------------------------

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> Any:
        """Ids of token strings (one, or a list); a token outside the vocabulary gets the unknown token's
        id, which may be None."""
        if isinstance(tokens, str):
            found = self._tokenizer.token_to_id(tokens)
            return self.unk_token_id if found is None else found
        return [self.convert_tokens_to_ids(token) for token in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int]) -> Any:
        """Token strings of ids (None for an id outside the vocabulary)."""
        if isinstance(ids, int):
            return self._tokenizer.id_to_token(ids)
        return [self._tokenizer.id_to_token(int(i)) for i in ids]

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return int(self._tokenizer.num_special_tokens_to_add(pair))

    # -- encoding ----------------------------------------------------------------------------------

    def __call__(
        self,
        text: str | Sequence[str],
        *,
        add_special_tokens: bool = True,
        truncation: bool = False,
        max_length: int | None = None,
        verbose: bool = True,
    ) -> dict[str, Any]:
        """{"input_ids": ids} for one text, or a list of them for a list of texts.

        With truncation, a text is cut at the end so that it has at most `max_length` ids with its
        special tokens, as transformers cuts a single sequence."""
        del verbose  # transformers' switch for its length warnings; there are none here
        texts = [text] if isinstance(text, str) else list(text)
        limit = None
        if truncation and max_length is not None:
            limit = max(0, max_length - (self.num_special_tokens_to_add() if add_special_tokens else 0))
        rows = []
        for encoding in self._tokenizer.encode_batch(texts, add_special_tokens=False):
            if limit is not None and len(encoding.ids) > limit:
                encoding.truncate(limit)
            if add_special_tokens:
                encoding = self._tokenizer.post_process(encoding, add_special_tokens=True)
            rows.append(list(encoding.ids))
        return {"input_ids": rows[0] if isinstance(text, str) else rows}

    # -- decoding ----------------------------------------------------------------------------------

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        text = self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)
        return _clean_up_spaces(text) if self._clean_up_spaces else text

    def batch_decode(self, rows: Sequence[Sequence[int]], skip_special_tokens: bool = False) -> list[str]:
        return [self.decode(row, skip_special_tokens=skip_special_tokens) for row in rows]

    # -- chat template -----------------------------------------------------------------------------

    def render_chat(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool) -> str:
        """The conversation as the model's chat template writes it, with the variables transformers passes."""
        if self._compiled_template is None:
            raise ValueError("the tokenizer has no chat template")
        return str(
            self._compiled_template.render(
                messages=[dict(m) for m in messages],
                tools=None,
                documents=None,
                add_generation_prompt=add_generation_prompt,
                **self.special_tokens,
            )
        )

    def apply_chat_template(
        self,
        messages: Sequence[dict[str, str]],
        *,
        add_generation_prompt: bool = False,
        tokenize: bool = True,
    ) -> list[int] | str:
        """The rendered conversation, or its ids: the template writes the special tokens itself."""
        rendered = self.render_chat(messages, add_generation_prompt=add_generation_prompt)
        if not tokenize:
            return rendered
        return list(self(rendered, add_special_tokens=False)["input_ids"])


def _chat_template(folder: Path, config: dict[str, Any]) -> str | None:
    """chat_template.jinja, or the template in tokenizer_config.json (one, or the default of a list)."""
    path = folder / "chat_template.jinja"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    template = config.get("chat_template")
    if isinstance(template, list):
        named = {entry.get("name"): entry.get("template") for entry in template if isinstance(entry, dict)}
        template = named.get("default")
    return template if isinstance(template, str) else None


def _compile_template(source: str) -> Any:
    """A chat template compiled as transformers compiles it: sandboxed, blocks trimmed, loop controls, its
    own tojson, raise_exception and strftime_now, and the `generation` tag that marks assistant turns
    (rendered as its plain content here)."""
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class GenerationTag(jinja2.ext.Extension):
        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_content"), [], [], body).set_lineno(lineno)

        def _content(self, caller: Any) -> str:
            return str(caller())

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(
        value: Any,
        ensure_ascii: bool = False,
        indent: int | None = None,
        separators: tuple[str, str] | None = None,
        sort_keys: bool = False,
    ) -> str:
        # Jinja's own filter escapes HTML characters, which a prompt must keep as they are.
        return json.dumps(
            value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    environment = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, jinja2.ext.loopcontrols]
    )
    environment.filters["tojson"] = tojson
    environment.globals["raise_exception"] = raise_exception
    environment.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return environment.from_string(source)


def _clean_up_spaces(text: str) -> str:
    """The space clean-up of transformers' decoding, which a tokenizer_config.json may ask for: no space
    before punctuation and English contractions."""
    for spaced, joined in (
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ):
        text = text.replace(spaced, joined)
    return text
