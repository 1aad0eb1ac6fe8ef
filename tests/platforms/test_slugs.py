"""The slugs of a platform's courses and sessions: readable when free, else with a digest, at most
50 characters, never one chosen twice."""

import pytest

from tessera.catalog.models import Course
from tessera.platforms.slugs import SLUG_MAX, SlugsExhausted, chunks, slug_candidates, slugs_chosen, slugs_taken


class TestCandidates:
    def test_the_readable_slug_comes_first_then_ever_longer_digests(self) -> None:
        candidates = slug_candidates("moodle", 7, "Python 101")
        assert candidates[0] == "moodle-python-101"
        assert [len(slug) - len("moodle-python-101-") for slug in candidates[1:]] == [8, 12, 16, 20]
        assert all(slug.startswith("moodle-python-101-") for slug in candidates[1:])

    def test_the_digest_depends_on_the_platform_and_the_exact_id(self) -> None:
        assert slug_candidates("moodle", 1, "Python 101")[1] != slug_candidates("moodle", 2, "Python 101")[1]
        assert slug_candidates("moodle", 1, "Python 101")[1] != slug_candidates("moodle", 1, "python-101")[1]

    @pytest.mark.parametrize("external_id", ["x" * 255, "日本語", "!!!", "a" * 42])
    def test_every_candidate_fits_and_there_are_always_five(self, external_id: str) -> None:
        candidates = slug_candidates("a-forty-character-platform-slug-xxxxxxxx", 1, external_id)
        assert len(candidates) == 5
        assert all(0 < len(slug) <= SLUG_MAX and not slug.endswith("-") for slug in candidates)

    def test_an_id_that_makes_no_slug_starts_with_its_digest(self) -> None:
        candidates = slug_candidates("moodle", 1, "日本語")
        assert candidates[0] == candidates[1] == f"moodle-{candidates[1].rsplit('-', 1)[1]}"


def test_chunks_cover_every_value_in_order() -> None:
    assert [list(chunk) for chunk in chunks(list(range(7)), 3)] == [[0, 1, 2], [3, 4, 5], [6]]


@pytest.mark.django_db
class TestChoosing:
    def test_a_taken_slug_is_passed_over_and_none_is_chosen_twice(self) -> None:
        Course.objects.create(slug="p-a", title="Taken")
        chosen = slugs_chosen(Course, [["p-a", "p-a-1"], ["p-b", "p-b-1"], ["p-b", "p-b-2"]])
        assert chosen == ["p-a-1", "p-b", "p-b-2"]
        assert slugs_taken(Course, ["p-a", "p-b"]) == {"p-a"}

    def test_every_candidate_taken_is_refused(self) -> None:
        Course.objects.create(slug="p-a", title="Taken")
        with pytest.raises(SlugsExhausted):
            slugs_chosen(Course, [["p-a", "p-a"]])

    def test_no_rows_no_slugs(self) -> None:
        assert slugs_chosen(Course, []) == []
