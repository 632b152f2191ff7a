"""Fidelity of the product's lossy speed-ups against fp32, on the same photos.

    python -m benchmarks.fidelity --model /path/to/blip --photos DIR          # real photos
    python -m benchmarks.fidelity --model /path/to/blip --synthetic 8          # photo-like JPEGs

For each variant (the torch bf16 path, and bf16 with the int8 ONNX Runtime vision encoder):

- ``encoder_cosine``: cosine similarity, per image, of the vision encoder's output (all image
  tokens, flattened) with the fp32 encoder's; the worst image is reported;
- ``decoder_cosine``: cosine similarity, per token position, of the text decoder's last hidden
  states teacher-forced on the fp32 greedy caption (so both read the same tokens), worst image's mean;
- ``token_agreement``: the share of greedy caption tokens equal to fp32's at the same position
  (and ``exact_captions``: the share of captions identical to fp32's).

``THRESHOLDS`` are the pass marks (documented in docs/performance.md); a variant passes when all
three hold. Random-weight models have flat next-token distributions, where tiny differences flip a
token more easily than in a trained model, so token agreement on them is a pessimistic figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from typing import Any

THRESHOLDS = {"encoder_cosine": 0.99, "decoder_cosine": 0.99, "token_agreement": 0.90}


def _greedy(captioner, pixel_inputs: dict, max_length: int):
    import torch

    from mlcore.params import GenerationParams

    params = GenerationParams.from_dict({"max_length": max_length, "min_length": max_length})
    kw = captioner.generation_kwargs(params)
    kw.update(output_logits=False, return_dict_in_generate=False, num_return_sequences=1)
    with torch.inference_mode():
        return captioner.model.generate(**pixel_inputs, **kw)


def _inputs(captioner, images) -> dict:
    return captioner._preprocess(images)  # the captioner's own preprocessing, cast to its dtype


def measure(reference, variant, images, max_length: int = 20) -> dict[str, Any]:
    """Compare ``variant`` (a BLIP HFCaptioner) with ``reference`` (the same model in fp32, torch)."""
    import torch

    ref_inputs, var_inputs = _inputs(reference, images), _inputs(variant, images)
    with torch.inference_mode():
        ref_tokens = reference.model.vision_model(pixel_values=ref_inputs["pixel_values"])[0].float()
        var_tokens = variant.model.vision_model(pixel_values=var_inputs["pixel_values"])[0].float()
        encoder = torch.nn.functional.cosine_similarity(ref_tokens.flatten(1), var_tokens.flatten(1), dim=1)
        ref_ids = _greedy(reference, ref_inputs, max_length)
        var_ids = _greedy(variant, var_inputs, max_length)
        mask = torch.ones_like(ref_ids)
        hidden = []
        for captioner, tokens in ((reference, ref_tokens), (variant, var_tokens)):
            dtype = next(captioner.model.text_decoder.parameters()).dtype
            out = captioner.model.text_decoder(input_ids=ref_ids, attention_mask=mask,
                                               encoder_hidden_states=tokens.to(dtype), output_hidden_states=True)
            hidden.append(out.hidden_states[-1].float())
        decoder = torch.nn.functional.cosine_similarity(hidden[0], hidden[1], dim=-1).mean(dim=1)
    n = min(ref_ids.shape[1], var_ids.shape[1])
    agree = (ref_ids[:, :n] == var_ids[:, :n]).float().mean().item()
    exact = sum(bool(torch.equal(a, b)) for a, b in zip(ref_ids, var_ids, strict=True)) / len(images)
    figures = {
        "encoder_cosine": float(encoder.min()),
        "decoder_cosine": float(decoder.min()),
        "token_agreement": agree,
        "exact_captions": exact,
        "images": len(images),
    }
    figures["passes"] = all(figures[key] >= mark for key, mark in THRESHOLDS.items())
    return figures


def run(spec: str, images, max_length: int = 20) -> dict[str, Any]:
    """fp32 torch reference against bf16 torch and bf16 + the int8 ONNX vision encoder."""
    from mlcore.predictors.hf import HFCaptioner

    reference = HFCaptioner.from_pretrained(spec, dtype="float32", vision_engine="torch")
    out: dict[str, Any] = {"thresholds": THRESHOLDS, "variants": {}}
    for label, dtype, engine in (("bf16 torch", "bfloat16", "torch"),
                                 ("bf16 + int8 ONNX vision encoder", "bfloat16", "onnx-int8")):
        variant = HFCaptioner.from_pretrained(spec, dtype=dtype, vision_engine=engine)
        figures = measure(reference, variant, images, max_length)
        figures["vision_engine"] = variant.vision_engine
        figures["vision_engine_reason"] = variant.vision_engine_reason
        out["variants"][label] = figures
        del variant
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.fidelity", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a BLIP folder (e.g. the random-weight BLIP-base)")
    ap.add_argument("--photos", default=None, help="a folder of photos")
    ap.add_argument("--synthetic", type=int, default=8, help="photo-like JPEGs to make without --photos (8)")
    ap.add_argument("--max-length", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from .bench import COCO_SIZES, load_photos, make_photos

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.photos or scratch
        if not args.photos:
            make_photos(scratch, n=args.synthetic, sizes=COCO_SIZES)
        from mlcore.predictors.hf import HFCaptioner

        probe = HFCaptioner.from_pretrained(args.model, dtype="float32", vision_engine="torch")
        images = load_photos(folder, probe)
        del probe
        out = run(args.model, images, args.max_length)
    for label, figures in out["variants"].items():
        print(f"{label}: encoder cosine {figures['encoder_cosine']:.5f}, decoder cosine {figures['decoder_cosine']:.5f}, "
              f"token agreement {figures['token_agreement']:.3f}, exact captions {figures['exact_captions']:.2f} "
              f"-> {'passes' if figures['passes'] else 'FAILS'} ({figures['vision_engine']}: {figures['vision_engine_reason']})")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
