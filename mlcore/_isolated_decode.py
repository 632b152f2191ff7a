"""The child side of :func:`mlcore.images.load_image_isolated`: reads a file on stdin, decodes it
with :func:`mlcore.images.load_image` (arguments as JSON in argv[1]) and writes one JSON line
(the result's metadata, or the refusal) followed by the decoded RGB pixels, raw."""

import json
import shutil
import sys
import tempfile


def main() -> int:
    args = json.loads(sys.argv[1])
    if args.get("memory_limit_bytes"):
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (args["memory_limit_bytes"], args["memory_limit_bytes"]))
    from mlcore.images import ImageLoadError, load_image

    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool, 1024 * 1024)
        spool.seek(0)
        try:
            loaded = load_image(spool, max_pixels=args["max_pixels"], target_size=args["target_size"],
                                max_aspect=args["max_aspect"])
        except ImageLoadError as error:
            sys.stdout.buffer.write(json.dumps({"error": error.reason, "code": error.code}).encode() + b"\n")
            return 0
    image = loaded.image
    fit = args.get("fit")
    if fit and max(image.size) > fit:
        image.thumbnail((fit, fit), reducing_gap=3.0)
    header = {
        "format": loaded.format, "width": loaded.width, "height": loaded.height, "source_mode": loaded.source_mode,
        "orientation": loaded.orientation, "flags": list(loaded.flags), "size": list(image.size),
    }
    out = sys.stdout.buffer
    out.write(json.dumps(header).encode() + b"\n")
    out.write(image.tobytes())
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
