"""The 7 FER2013 expressions, in FER2013 index order, used everywhere in moodlens.

What moodlens reports is an *apparent* facial expression: how a face looks to a model
trained on posed and spontaneous photos, not what a person feels.
"""

from __future__ import annotations

from enum import IntEnum


class Expression(IntEnum):
    """An apparent facial expression; the integer value is the FER2013 class index."""

    ANGRY = 0
    DISGUST = 1
    FEAR = 2
    HAPPY = 3
    SAD = 4
    SURPRISE = 5
    NEUTRAL = 6

    @property
    def label(self) -> str:
        """The short lower-case name used in JSON, CSV and the API (``"happy"``)."""
        return self.name.lower()

    @property
    def display_name(self) -> str:
        """What a user interface shows: it names an apparent expression, not an emotion."""
        return f"apparent {self.label}"

    @classmethod
    def from_label(cls, name: str) -> Expression:
        """Look up an expression by its label or a common synonym ("happiness", "Anger")."""
        key = name.strip().lower()
        if key in _SYNONYMS:
            return cls[_SYNONYMS[key].upper()]
        choices = ", ".join(LABELS)
        raise ValueError(f"unknown expression {name!r}; expected one of: {choices}")


#: The canonical label order (FER2013 indices 0..6).
LABELS: tuple[str, ...] = tuple(e.label for e in Expression)
NUM_CLASSES = len(LABELS)

_SYNONYMS: dict[str, str] = {label: label for label in LABELS}
_SYNONYMS.update(
    {
        "anger": "angry",
        "angered": "angry",
        "mad": "angry",
        "disgusted": "disgust",
        "fearful": "fear",
        "afraid": "fear",
        "scared": "fear",
        "happiness": "happy",
        "joy": "happy",
        "sadness": "sad",
        "surprised": "surprise",
        "calm": "neutral",
        "neutrality": "neutral",
    }
)

#: A label whose probability is below this is shown as ``uncertain`` instead of an answer, in every
#: output (CLI lines, drawings, the API's ``shown_label``, the web pages). With calibrated
#: probabilities (docs/training.md) a top class under 40% is wrong more often than right, and with
#: 7 classes it barely leads the others: saying "uncertain" is the honest answer.
UNCERTAIN_BELOW = 0.40
UNCERTAIN = "uncertain"

#: One BGR colour per expression, shared by every drawing and chart.
COLOURS_BGR: dict[Expression, tuple[int, int, int]] = {
    Expression.ANGRY: (40, 40, 220),
    Expression.DISGUST: (40, 140, 40),
    Expression.FEAR: (160, 60, 150),
    Expression.HAPPY: (0, 200, 255),
    Expression.SAD: (200, 120, 40),
    Expression.SURPRISE: (220, 200, 0),
    Expression.NEUTRAL: (170, 170, 170),
}


#: The colour of an uncertain label (gray, distinct from neutral's lighter gray).
UNCERTAIN_BGR = (110, 110, 110)


def shown_label(expression: Expression, probability: float) -> str:
    """What to show for a label held with ``probability``: the label, or ``uncertain``."""
    return UNCERTAIN if probability < UNCERTAIN_BELOW else expression.label


#: Colours for lines and marks on a white page: each has a contrast ratio of at least 3:1 against
#: white (WCAG 2.1, 1.4.11 non-text contrast), and they stay apart for the common colour-vision
#: deficiencies (from the Okabe-Ito palette, darkened where needed). Checked by a test.
CHART_COLOURS: dict[Expression, str] = {
    # The pages' palette (service/static/palette.js, where it is checked): each expression keeps
    # its usual hue, told apart under protanopia, deuteranopia and tritanopia (smallest CIEDE2000
    # difference >= 14), each at least 3:1 on white.
    Expression.ANGRY: "#cd2f4b",
    Expression.DISGUST: "#3b5b09",
    Expression.FEAR: "#8f80fa",
    Expression.HAPPY: "#cc8216",
    Expression.SAD: "#1f6da1",
    Expression.SURPRISE: "#24a2ab",
    Expression.NEUTRAL: "#7a7a7a",
}


def contrast_ratio(foreground: str, background: str = "#ffffff") -> float:
    """WCAG 2.1 contrast ratio of two ``#rrggbb`` colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    a, b = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def colour_hex(expression: Expression) -> str:
    """The expression's colour as ``#rrggbb`` for web pages."""
    b, g, r = COLOURS_BGR[expression]
    return f"#{r:02x}{g:02x}{b:02x}"
