"""Training: datasets (COCO json, Flickr8k token files, folder + captions CSV/JSONL, the feedback
export), the in-house model's training loop, and fine-tuning of the HF models (BLIP first).

    from mlcore.training import load_records, split_records, train_inhouse, finetune_hf
"""

from .datasets import CaptionRecord, load_records, split_records
from .hf_finetune import finetune_hf
from .inhouse import train_inhouse

__all__ = ["CaptionRecord", "load_records", "split_records", "train_inhouse", "finetune_hf"]
