"""What the llm backend says to a chat model, and how it reads the answer: the system prompt, the summary and
translation instructions, and the clean-up of the chatter instruction-tuned models wrap around an answer.

Plain text only: no tokenizer, no runtime.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from service.text.languages import language_name
from service.text.terminology import Term, prompt_instruction

SYSTEM_PROMPT = (
    "You are a careful news editor. You write accurate, neutral summaries and faithful translations. "
    "You answer with the requested text only."
)
# Lines a chatty model adds around the answer.
_PREAMBLE = re.compile(
    r"^\s*(?:sure[,!.]?|certainly[,!.]?|okay[,!.]?)?\s*(?:here(?: is|'s| are)[^:\n]{0,80}:|"
    r"(?:summary|translation|résumé|zusammenfassung|resumen|перевод|резюме|摘要|翻译|ملخص|ترجمة)"
    r"(?: in [a-z]+)?\s*[:：])\s*",
    re.IGNORECASE,
)
_TRAILER = re.compile(r"\n\s*(?:note|notes|explanation|\(note)\b.*$", re.IGNORECASE | re.DOTALL)
_FENCE = re.compile(r"^```[a-zA-Z]*\n?|\n?```$")


def clean_output(text: str) -> str:
    """Strip the chatter instruction-tuned models wrap around an answer."""
    text = text.strip().replace("**", "")
    text = _FENCE.sub("", text).strip()
    text = _PREAMBLE.sub("", text, count=1).strip()
    text = _TRAILER.sub("", text).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”«»":
        text = text[1:-1].strip()
    if len(text) >= 2 and text[0] in "“«" and text[-1] in "”»":
        text = text[1:-1].strip()
    return text


def _with_terms(text: str, terms: Sequence[Term]) -> str:
    """The text, then the "use these terms" paragraph: after the text, so that the prompt up to the text
    stays the same for every request (its model state is cached)."""
    instruction = prompt_instruction(terms)
    return f"{text}\n\n{instruction}" if instruction else text


def summarize_messages(
    text: str, language: str, sentences: int, terms: Sequence[Term] = ()
) -> list[dict[str, str]]:
    name = language_name(language)
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": (
                f"Summarize the following news article in {name}, in at most {sentences} sentences. "
                f"Keep names, numbers and places exact. Write the summary in {name} only, with no title "
                f"and no introduction.\n\nArticle:\n{_with_terms(text, terms)}"
            ),
        },
    ]


def translate_messages(
    text: str, source: str, target: str, terms: Sequence[Term] = ()
) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": (
                f"Translate the following text from {language_name(source)} into {language_name(target)}. "
                f"Reply with the {language_name(target)} translation only.\n\n"
                f"Text:\n{_with_terms(text, terms)}"
            ),
        },
    ]
