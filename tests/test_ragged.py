"""BOS / EOS around every document of a ragged batch, empty documents included, in one vectorised step."""

from __future__ import annotations

import numpy as np
import pytest

from transforms.tokenize.ragged import Ragged, add_special_ids


@pytest.mark.parametrize("bos,eos", [(None, 9), (8, None), (8, 9), (None, None)])
def test_special_ids_frame_every_document_as_a_loop_would(bos, eos):
    lists = [[1, 2, 3], [], [4], [], [], [5, 6], []]
    got = add_special_ids(Ragged.from_lists(lists), bos, eos)
    expected = [
        ([bos] if bos is not None else []) + ids + ([eos] if eos is not None else []) for ids in lists
    ]
    assert [a.tolist() for a in got.split()] == expected
    assert got.flat.dtype == np.uint32 and got.offsets[-1] == len(got.flat)
