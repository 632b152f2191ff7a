"""Retrieval quality and cost of the image search modes (keyword / semantic / combined), through
captions.selectors.images_search_for on a throwaway database:

    VAR_DIR=/tmp/bench-recall DJANGO_SETTINGS_MODULE=captionsite.settings \\
        python -m benchmarks.search_recall --scale 20000

Data: COCO val2017 captions are not reachable offline (no PyPI or npm package carries
captions_val2017.json; eccv-caption carries caption ids only, pycocotools no data). The stand-in is
PAIRS below: 64 image descriptions written for this benchmark, each with a paraphrase that shares
few or no content words (as two COCO annotators describe one photo). One of each pair is indexed as
an image's alt text; the other is the query; a hit is that image. It is NOT COCO: a small,
hand-written set, easier for keyword search to miss than real captions are.

Prints recall@1 and recall@10 per mode, the web process's RSS before and after the embedding model
loads, the per-query embedding latency, and the semantic search latency with --scale stored
vectors (random unit vectors beside the 64; exact cosine with numpy)."""

import argparse
import os
import statistics
import time

PAIRS = [
    ("a dog running on a sandy beach", "a puppy racing along the shore"),
    ("a cat sleeping on a sofa", "a kitten napping on the couch"),
    ("a red double decker bus in a city street", "a crimson two-storey coach driving through town"),
    ("a plate of spaghetti with tomato sauce", "a dish of pasta covered in marinara"),
    ("a man riding a bicycle down the road", "a cyclist pedalling along the street"),
    ("a laptop computer on a wooden desk", "a notebook pc sitting on a timber table"),
    ("a child flying a kite in a park", "a kid with a kite on the grass outdoors"),
    ("two giraffes standing near trees", "a pair of tall spotted animals by the woods"),
    ("a jet airplane taking off from a runway", "an aircraft lifting off the airstrip"),
    ("a bowl of fresh fruit on a kitchen counter", "apples and bananas in a dish beside the sink"),
    ("a surfer riding a large wave", "a person on a board catching a big swell in the ocean"),
    ("a woman holding an umbrella in the rain", "a lady sheltering from the downpour under a parasol"),
    ("a train stopped at a station platform", "a locomotive waiting by the railway stop"),
    ("a snowboarder jumping down a mountain slope", "someone leaping on a board over snowy hills"),
    ("a pizza with cheese and pepperoni", "a pie topped with salami and melted mozzarella"),
    ("a herd of cows grazing in a field", "cattle eating grass in a meadow"),
    ("a baseball player swinging a bat", "a batter hitting at a pitch during a game"),
    ("a teddy bear sitting on a bed", "a stuffed toy resting on the mattress"),
    ("a boat sailing on a calm lake", "a yacht drifting over still water"),
    ("a clock tower in the middle of a town square", "a tall building with a large timepiece in the plaza"),
    ("an elephant walking through the savanna", "a large grey animal with a trunk crossing the grassland"),
    ("a man talking on a mobile phone", "a guy making a call on his cellphone"),
    ("a horse pulling a cart on a country lane", "a pony towing a wagon along a rural road"),
    ("a birthday cake with lit candles", "a celebration dessert with small flames on top"),
    ("a tennis player serving the ball", "an athlete hitting a serve on the court"),
    ("a fire hydrant on a sidewalk", "a red water pump for firefighters by the curb"),
    ("a stop sign at an intersection", "a red octagonal traffic signal where two roads cross"),
    ("a bathroom with a white toilet and sink", "a restroom with a porcelain basin and lavatory"),
    ("a sheep standing on a green hill", "a lamb on a grassy slope"),
    ("a motorcycle parked outside a cafe", "a motorbike left in front of a coffee shop"),
    ("a skateboarder doing a trick on a ramp", "a skater performing a stunt in the half pipe"),
    ("a group of people eating at a restaurant", "friends having dinner together at a diner"),
    ("a bird perched on a tree branch", "a sparrow sitting on a twig"),
    ("a zebra grazing in tall grass", "a striped animal feeding in the long vegetation"),
    ("a refrigerator full of food", "a fridge stocked with groceries"),
    ("a child brushing their teeth", "a kid cleaning his mouth with a toothbrush"),
    ("a chef cooking in a restaurant kitchen", "a cook preparing meals at the stove"),
    ("a truck driving on a highway", "a lorry travelling along the motorway"),
    ("a girl reading a book in a library", "a young woman studying a novel among bookshelves"),
    ("a bear catching fish in a river", "a grizzly hunting salmon in the stream"),
    ("a bench in a quiet park", "a seat among trees in a peaceful garden"),
    ("a traffic jam in a busy city", "cars stuck bumper to bumper downtown"),
    ("a vase of flowers on a table", "a bouquet of roses in a jar on the dining surface"),
    ("a man skiing down a snowy slope", "a skier descending the white mountain"),
    ("an old woman knitting a scarf", "a grandmother making woollen clothing with needles"),
    ("a soccer match in a stadium", "a football game in a packed arena"),
    ("a sandwich and chips on a plate", "a sub with crisps served on a dish"),
    ("a dog catching a frisbee in the air", "a puppy leaping to grab a flying disc"),
    ("a lighthouse on a rocky coast", "a beacon tower on the cliffs by the sea"),
    ("a cup of coffee next to a croissant", "a mug of espresso beside a pastry"),
    ("a man repairing a car engine", "a mechanic fixing a vehicle motor"),
    ("a baby sleeping in a crib", "an infant napping in a cot"),
    ("fireworks exploding over a city at night", "colourful pyrotechnics lighting up the evening skyline"),
    ("a farmer driving a tractor across a field", "an agricultural worker ploughing the land with a machine"),
    ("a kitchen with a stove and oven", "a cooking area with a range and hob"),
    ("a couple walking hand in hand on a bridge", "two lovers strolling across an overpass"),
    ("a monkey eating a banana", "an ape snacking on yellow fruit"),
    ("a bunch of balloons at a party", "colourful inflatables at a celebration"),
    ("a student writing on a blackboard", "a pupil drawing with chalk on the board"),
    ("a wolf howling at the moon", "a wild canine crying out under the night sky"),
    ("a hot air balloon over the mountains", "a floating aerostat above the peaks"),
    ("a police officer directing traffic", "a cop guiding cars at the junction"),
    ("a bowl of soup with bread", "a broth served with a loaf"),
    ("an empty beach at sunset", "a deserted shore at dusk"),
]


def rss_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=20000, help="extra stored vectors for the latency figure")
    args = parser.parse_args()
    os.environ.setdefault("SEARCH_SEMANTIC_ENABLED", "true")

    import django

    django.setup()
    import numpy as np
    from django.core.management import call_command
    from django.utils import timezone

    from accounts.models import User
    from captions.models import Caption, Image, ImageEmbedding
    from captions.selectors import SEARCH_MODES, images_search_for
    from captions.services.embeddings import image_embedding_refresh
    from mlcore import embeddings

    call_command("migrate", verbosity=0)
    rss_before = rss_mib()
    started = time.perf_counter()
    embeddings.embed_one("warm up")
    load_s = time.perf_counter() - started
    rss_after = rss_mib()
    latencies = []
    for query, _ in PAIRS:
        started = time.perf_counter()
        embeddings.embed_one(query)
        latencies.append((time.perf_counter() - started) * 1000)
    print(f"embedding model: load {load_s:.1f} s, RSS {rss_before:.0f} MiB before, {rss_after:.0f} MiB after "
          f"(+{rss_after - rss_before:.0f} MiB); per query median {statistics.median(latencies):.1f} ms, "
          f"p95 {percentile(latencies, 0.95):.1f} ms")

    user, _ = User.objects.get_or_create(email="bench-recall@example.invalid")
    Image.objects.filter(owner=user).delete()
    now = timezone.now()
    images = Image.objects.bulk_create([
        Image(owner=user, file=f"images/r/{n}.jpg", thumbnail=f"thumbnails/r/{n}.jpg", original_filename=f"photo{n}.jpg",
              sha256=f"{n:064x}", width=1, height=1, format="JPEG", byte_size=1, status=Image.Status.DONE,
              available_at=now)
        for n in range(len(PAIRS))
    ])
    for image, (indexed, _) in zip(images, PAIRS, strict=True):
        caption = Caption.objects.create(image=image, text=indexed, raw_text=indexed, model_id="bench")
        Image.objects.filter(pk=image.pk).update(current_caption=caption)
        assert image_embedding_refresh(image_id=image.pk), "the embedding failed"
    for mode in SEARCH_MODES:
        at1 = at10 = 0
        for image, (_, query) in zip(images, PAIRS, strict=True):
            found = list(images_search_for(user, query, ordering="relevance", mode=mode).values_list("pk", flat=True)[:10])
            at1 += bool(found) and found[0] == image.pk
            at10 += image.pk in found
        print(f"{mode:9s} recall@1 {at1 / len(PAIRS):.3f}  recall@10 {at10 / len(PAIRS):.3f}  ({len(PAIRS)} queries)")

    if args.scale:
        rng = np.random.default_rng(0)
        batch = [Image(owner=user, file=f"images/s/{n}.jpg", thumbnail=f"thumbnails/s/{n}.jpg",
                       original_filename=f"filler{n}.jpg", sha256=f"{n + 10**6:064x}", width=1, height=1, format="JPEG",
                       byte_size=1, status=Image.Status.DONE, available_at=now) for n in range(args.scale)]
        fillers = Image.objects.bulk_create(batch, batch_size=2000)
        vectors = rng.standard_normal((args.scale, embeddings.DIMENSIONS)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ImageEmbedding.objects.bulk_create([
            ImageEmbedding(image=image, model_name=embeddings.MODEL_NAME, text_hash="x", vector=embeddings.to_bytes(v))
            for image, v in zip(fillers, vectors, strict=True)
        ], batch_size=2000)
        for mode in ("keyword", "semantic", "combined"):
            times = []
            for _, query in PAIRS[:10]:
                started = time.perf_counter()
                list(images_search_for(user, query, ordering="relevance", mode=mode)[:50])
                times.append((time.perf_counter() - started) * 1000)
            print(f"{mode:9s} with {args.scale + len(PAIRS)} stored vectors: first page median "
                  f"{statistics.median(times):.0f} ms, p95 {percentile(times, 0.95):.0f} ms; RSS {rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
