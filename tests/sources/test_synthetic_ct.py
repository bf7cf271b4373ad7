"""The synthetic CT: CT numbers from densities, air around the body, each structure where
its labels are (on anisotropic voxels, the body under its organs)."""

from __future__ import annotations

import numpy as np

from arkit_py.sources.segmentation import Segment, Segmentation
from arkit_py.sources.synthetic_ct import AIR_HU, hounsfield, synthetic_ct
from arkit_py.structures import lookup


def test_ct_numbers_follow_density():
    assert hounsfield(1.0) == 0  # water
    assert hounsfield(0.0) == AIR_HU == -1000
    assert hounsfield(lookup("liver").density_g_ml) == 40
    assert -850 <= hounsfield(lookup("lung_left").density_g_ml) <= -650  # inflated lung on a real CT
    assert hounsfield(lookup("spine").density_g_ml) == 400
    assert hounsfield(5.0) == 3071  # the 12-bit ceiling


def test_each_structure_is_where_its_labels_are():
    labels = np.zeros((12, 9, 5), np.uint8)
    labels[1:11, 1:8, 1:4] = 1  # body
    labels[2:5, 2:7, 2] = 2  # lung
    labels[6:10, 3:5, 1:3] = 3  # spine
    seg = Segmentation([labels], np.diag([1.5, 2.0, 4.0, 1.0]),
                       {3: Segment(3, lookup("spine")), 1: Segment(1, lookup("body")), 2: Segment(2, lookup("lung_left"))},
                       body_label=1)
    ct = synthetic_ct(seg)
    assert ct.dtype == np.int16 and ct.shape == labels.shape
    assert (ct[labels == 0] == -1000).all()
    assert (ct[labels == 1] == 40).all() and (ct[labels == 2] == -704).all() and (ct[labels == 3] == 400).all()
