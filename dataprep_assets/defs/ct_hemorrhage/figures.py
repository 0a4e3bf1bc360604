"""Pictures of ct_hemorrhage's images for asset metadata and the dataset card: montages with named boxes."""

from pathlib import Path

from PIL import Image

from dataprep_assets.defs.ct_hemorrhage.export import boxes_by_image
from dataprep_assets.lib.images import captioned_montage, draw_boxes, png_bytes


def montage_with_boxes(directory: Path, coco: dict, count: int = 12, size: int = 192) -> bytes:
    """Images with boxes, each box outlined in its class colour and named; the file name under each image."""
    boxes = boxes_by_image(coco["annotations"])
    names = [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])]
    tiles, captions = [], []
    for im in [i for i in coco["images"] if i["id"] in boxes][:count]:
        with Image.open(directory / im["file_name"]) as img:
            tiles.append(draw_boxes(img, boxes[im["id"]], names, size))
        captions.append(str(im["file_name"])[:30])
    return png_bytes(captioned_montage(tiles, captions, 6))
