import pytest

from moodlens.labels import COLOURS_BGR, LABELS, NUM_CLASSES, Expression, colour_hex


def test_canonical_order_is_fer2013_index_order() -> None:
    assert LABELS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert NUM_CLASSES == 7
    assert [int(e) for e in Expression] == list(range(7))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("happy", Expression.HAPPY),
        ("Happiness", Expression.HAPPY),
        (" ANGER ", Expression.ANGRY),
        ("surprised", Expression.SURPRISE),
        ("fearful", Expression.FEAR),
        ("sadness", Expression.SAD),
        ("disgusted", Expression.DISGUST),
        ("neutral", Expression.NEUTRAL),
    ],
)
def test_from_label_accepts_synonyms(name: str, expected: Expression) -> None:
    assert Expression.from_label(name) is expected


def test_unknown_label_lists_choices() -> None:
    with pytest.raises(ValueError, match="expected one of: angry, disgust"):
        Expression.from_label("contempt")


def test_display_name_says_apparent() -> None:
    assert Expression.SAD.display_name == "apparent sad"
    assert Expression.SAD.label == "sad"


def test_every_expression_has_a_distinct_colour() -> None:
    assert set(COLOURS_BGR) == set(Expression)
    assert len({colour_hex(e) for e in Expression}) == NUM_CLASSES
    assert colour_hex(Expression.ANGRY).startswith("#")
