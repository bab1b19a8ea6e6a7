"""Datasets: the LeRobot v2.1 on-disk format (write and read), collection in the simulator."""
from lapa_bench.data.lerobot import (DatasetFormatError, LeRobotDataset, LeRobotWriter,  # noqa: F401
                                     open_datasets, validate)
