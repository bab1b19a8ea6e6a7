"""Datasets: the LeRobot v2.1 on-disk format (write and read), the episode key, the one image
preprocessing path and the one normalizer (see ``preprocess`` and ``normalize``)."""
from lapa_bench.data.lerobot import (DatasetFormatError, LeRobotDataset, LeRobotWriter,  # noqa: F401
                                     episode_key, open_datasets, open_sources, stored_image_size,
                                     validate)
