#!/usr/bin/env python3
"""unpack-videos.py SRC DEST: decodes every SRC/*.mp4 into a frame folder
DEST/NAME/00001.png, 00002.png, ... (NAME: the file name without .mp4).

For machines without an ffmpeg command (the GPU machine): it decodes with
OpenCV (cv2, which bundles its own FFmpeg) when that imports, else with the
ffmpeg command. Videos decode in parallel, one process per CPU. A folder
that is already complete (its .done marker) is kept; a video that yields no
frame is an error, and the exit status is non-zero if any video failed.
"""
import os
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor


def decode(src, dst):
    tmp = dst + ".part"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    n = 0
    try:
        import cv2  # noqa: PLC0415 (optional)
    except ImportError:
        cv2 = None
    if cv2 is not None:
        cap = cv2.VideoCapture(src)
        while True:
            ok, fr = cap.read()
            if not ok:
                break
            n += 1
            cv2.imwrite(os.path.join(tmp, "%05d.png" % n), fr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        cap.release()
    elif shutil.which("ffmpeg"):
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", src,
                        os.path.join(tmp, "%05d.png")], check=True)
        n = len(os.listdir(tmp))
    else:
        raise RuntimeError("neither OpenCV (cv2) nor an ffmpeg command is available")
    if n == 0:
        raise RuntimeError("%s: no frame decoded" % src)
    shutil.rmtree(dst, ignore_errors=True)
    os.rename(tmp, dst)
    open(os.path.join(dst, ".done"), "w").close()
    return n


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: unpack-videos.py SRC DEST\n")
        return 2
    src, dest = sys.argv[1], sys.argv[2]
    os.makedirs(dest, exist_ok=True)
    jobs = {}
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as ex:
        for f in sorted(os.listdir(src)):
            if not f.endswith(".mp4"):
                continue
            dst = os.path.join(dest, f[:-4])
            if os.path.exists(os.path.join(dst, ".done")):
                continue
            jobs[f] = ex.submit(decode, os.path.join(src, f), dst)
        failed = 0
        for f, j in jobs.items():
            try:
                print("unpack-videos: %s: %d frames" % (f, j.result()))
            except Exception as e:  # noqa: BLE001 (report every failure)
                print("unpack-videos: %s: %s" % (f, e), file=sys.stderr)
                failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
