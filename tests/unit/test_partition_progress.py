"""Which offset may be committed: only past a prefix of the batch whose work is all done."""

from __future__ import annotations

from consumer.offsets import PartitionProgress


def test_nothing_finished_commits_nothing() -> None:
    progress = PartitionProgress([10, 11, 12])

    assert progress.committable() is None


def test_a_finished_prefix_commits_the_offset_after_it() -> None:
    progress = PartitionProgress([10, 11, 12])
    progress.finish(10)
    progress.finish(11)

    assert progress.committable() == 12


def test_a_whole_finished_batch_commits_past_its_last_offset() -> None:
    progress = PartitionProgress([10, 11, 12])
    for offset in (10, 11, 12):
        progress.finish(offset)

    assert progress.committable() == 13


def test_a_later_offset_finished_first_commits_nothing_until_the_first_is_done() -> None:
    progress = PartitionProgress([10, 11, 12])
    progress.finish(12)
    progress.finish(11)

    assert progress.committable() is None

    progress.finish(10)

    assert progress.committable() == 13


def test_a_gap_in_the_finished_offsets_stops_the_commit_before_it() -> None:
    progress = PartitionProgress([10, 11, 12, 13])
    for offset in (10, 11, 13):
        progress.finish(offset)

    assert progress.committable() == 12


def test_offsets_given_out_of_order_are_committed_in_offset_order() -> None:
    progress = PartitionProgress([12, 10, 11])
    progress.finish(10)

    assert progress.committable() == 11


def test_offsets_not_contiguous_in_the_partition_commit_past_the_last_finished() -> None:
    # Compacted topics and transaction markers leave holes between fetched offsets.
    progress = PartitionProgress([10, 15, 20])
    progress.finish(10)
    progress.finish(15)

    assert progress.committable() == 16


def test_an_empty_batch_commits_nothing() -> None:
    assert PartitionProgress([]).committable() is None
