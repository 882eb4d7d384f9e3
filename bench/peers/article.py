"""The seed article's pipeline ("Async I/O for Raster Processing: CLI Patterns", batch-processing.com),
written again for the bench: one aiohttp ClientSession, a semaphore, each file downloaded whole into a
NamedTemporaryFile, the window read and written with rasterio in asyncio.to_thread, click options, a tqdm
bar. Its two bugs are fixed: the output transform is Affine(*transform[:6]) (rasterio's window transform
is a 9-tuple), and the downloads run concurrently (gathered under the semaphore, not awaited one at a
time).

Input lines: `URL` or `URL COL,ROW,WIDTH,HEIGHT OUT` (a window and output name of its own).

    python3 article.py --concurrency 16 --window 0,0,512,512 --out-dir out --co COMPRESS=DEFLATE urls.txt
"""
import asyncio
import os
import tempfile

import aiohttp
import click
import rasterio
from affine import Affine
from rasterio.windows import Window
from tqdm import tqdm


def process(path, window, out_path, creation_options):
    with rasterio.open(path) as src:
        data = src.read(window=window)
        transform = src.window_transform(window)
        profile = src.profile.copy()
    # Only what describes the output: the source's own layout keys (blockxsize, interleave, a compress it
    # had) would otherwise override the creation options.
    for key in ("blockxsize", "blockysize", "tiled", "compress", "interleave", "predictor", "photometric"):
        profile.pop(key, None)
    profile.update(
        driver="GTiff",
        width=window.width,
        height=window.height,
        transform=Affine(*transform[:6]),
        **creation_options,
    )
    with rasterio.open(out_path, "w", **profile) as dst:
        dst.write(data)
    return out_path


async def fetch_and_process(session, semaphore, job, out_dir, creation_options):
    url, window, name = job
    async with semaphore:
        with tempfile.NamedTemporaryFile(suffix=".tif") as tmp:
            async with session.get(url) as response:
                response.raise_for_status()
                async for chunk in response.content.iter_chunked(1 << 16):
                    tmp.write(chunk)
            tmp.flush()
            return await asyncio.to_thread(process, tmp.name, window, os.path.join(out_dir, name), creation_options)


def parse_jobs(lines, default_window):
    jobs = []
    for i, line in enumerate(lines):
        parts = line.split()
        if not parts:
            continue
        if len(parts) == 3:
            col, row, width, height = (int(v) for v in parts[1].split(","))
            jobs.append((parts[0], Window(col, row, width, height), parts[2]))
        else:
            jobs.append((parts[0], default_window, f"{i}.tif"))
    return jobs


async def run(jobs, concurrency, out_dir, creation_options):
    semaphore = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.ensure_future(fetch_and_process(session, semaphore, job, out_dir, creation_options)) for job in jobs]
        for task in tqdm(asyncio.as_completed(tasks), total=len(tasks), disable=None):
            await task


@click.command()
@click.argument("inputs", type=click.File("r"), default="-")
@click.option("--concurrency", "-c", default=16, show_default=True, help="Files fetched and processed at once.")
@click.option("--window", "-w", default="0,0,512,512", show_default=True, help="COL,ROW,WIDTH,HEIGHT.")
@click.option("--out-dir", "-o", default="output", show_default=True, type=click.Path(file_okay=False))
@click.option("--co", "creation_options", multiple=True, help="Creation option NAME=VALUE, repeatable.")
def main(inputs, concurrency, window, out_dir, creation_options):
    os.makedirs(out_dir, exist_ok=True)
    col, row, width, height = (int(v) for v in window.split(","))
    jobs = parse_jobs(inputs.read().splitlines(), Window(col, row, width, height))
    options = dict(co.split("=", 1) for co in creation_options)
    asyncio.run(run(jobs, concurrency, out_dir, {k.lower(): v for k, v in options.items()}))


if __name__ == "__main__":
    main()
