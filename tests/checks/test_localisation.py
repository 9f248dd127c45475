"""Pointing game and relevance mass on hand-made maps with known answers."""

import numpy as np
import pytest

from saliency_core.checks.localisation import pointing_game, relevance_mass


def _mask():
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True  # 4 of 16 pixels
    return mask


def test_pointing_game_hit_and_miss():
    mask = _mask()
    hit = np.zeros((4, 4))
    hit[1, 2] = 5.0
    miss = np.zeros((4, 4))
    miss[0, 0] = 5.0
    miss[1, 1] = 4.0
    out = pointing_game(np.stack([hit, miss]), np.stack([mask, mask]))
    assert out.dtype == bool and out.tolist() == [True, False]


def test_pointing_game_ties_need_every_maximum_inside():
    mask = _mask()
    inside_ties = np.zeros((4, 4))
    inside_ties[1, 1] = inside_ties[2, 2] = 3.0
    split_ties = inside_ties.copy()
    split_ties[3, 3] = 3.0
    constant = np.ones((4, 4))
    out = pointing_game(np.stack([inside_ties, split_ties, constant]), np.stack([mask] * 3))
    assert out.tolist() == [True, False, False]


def test_pointing_game_empty_mask_is_a_miss():
    assert not pointing_game(np.eye(4)[None], np.zeros((1, 4, 4), bool))[0]


def test_relevance_mass_known_values():
    mask = _mask()
    uniform = np.ones((4, 4))  # chance level: area fraction 4/16
    inside_only = np.where(mask, 2.0, 0.0)  # all relevance inside
    signed = np.zeros((4, 4))
    signed[1, 1] = -3.0
    signed[0, 0] = 1.0  # |.|: 3 of 4
    zero = np.zeros((4, 4))  # no relevance: defined as 0
    out = relevance_mass(np.stack([uniform, inside_only, signed, zero]), np.stack([mask] * 4))
    np.testing.assert_allclose(out, [0.25, 1.0, 0.75, 0.0])


def test_shape_checks():
    with pytest.raises(ValueError, match="same shape"):
        relevance_mass(np.zeros((2, 4, 4)), np.zeros((2, 5, 5), bool))
    with pytest.raises(ValueError, match="NaN"):
        pointing_game(np.full((1, 2, 2), np.nan), np.ones((1, 2, 2), bool))
