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


def test_chart_colours_have_three_to_one_contrast_on_white_and_are_distinct() -> None:
    from moodlens.labels import CHART_COLOURS, contrast_ratio

    assert set(CHART_COLOURS) == set(Expression)
    assert len(set(CHART_COLOURS.values())) == len(CHART_COLOURS)
    for expression, colour in CHART_COLOURS.items():
        assert contrast_ratio(colour) >= 3.0, (expression, colour, contrast_ratio(colour))


def test_contrast_ratio_matches_wcag_reference_values() -> None:
    from moodlens.labels import contrast_ratio

    assert contrast_ratio("#000000") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#767676") == pytest.approx(4.54, abs=0.01)  # the classic AA grey


def test_chart_colours_are_the_pages_palette() -> None:
    """One palette: the API's chart colours are the ones the pages draw with (palette.js)."""
    import re
    from pathlib import Path

    from moodlens.labels import CHART_COLOURS

    source = (Path(__file__).parents[1] / "src/moodlens/service/static/palette.js").read_text()
    pages = dict(re.findall(r'^\s*(\w+): "(#[0-9a-f]{6})"', source, flags=re.M))
    assert {e.label: c for e, c in CHART_COLOURS.items()} == {e.label: pages[e.label] for e in CHART_COLOURS}
