"""Throughput and latency of ``medclass dicom-node`` against ``medclass predict`` on the same images.

    python benchmarks/dicom_node.py RUN --instances 200 --associations 4 [--images DIR]

``--instances`` real images (cycled from ``--images``, default the shared ``brain_mri_yesno`` set) are written as
MR DICOM instances of one study. The node runs as its own process (``medclass dicom-node RUN``, loopback, a fresh
spool) and delivers its SRs to a recording C-STORE SCP in this process. ``--associations`` threads send the
instances concurrently (pynetdicom SCU, one association each). Reported: instances/s from the first C-STORE to
the last SR stored, and per instance the latency from its C-STORE acknowledgement to its SR stored at the
destination (p50, p95, max); every instance must be reported exactly once. The baseline is
``medclass.api.predict`` on the same files in this process (model load excluded), with and without
``--dicom-sr``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE.parent / "src")]

from dicom_peers import RecordingScp  # noqa: E402
from mr_images import mr_instance  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402
from serve_process import free_port  # noqa: E402


def write_instances(images: list[Path], count: int, folder: Path) -> list[Path]:
    """``count`` MR instances of one study, the images cycled (each instance its own UIDs)."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    paths = []
    for i in range(count):
        path = folder / f"{i:05d}.dcm"
        mr_instance(images[i % len(images)], study, series, i + 1).save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def echo_ok(port: int) -> bool:
    """Whether a C-ECHO to the node succeeds."""
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title="BENCH")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="MEDCLASS")
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return getattr(status, "Status", None) == 0


def send(port: int, paths: list[Path], acked: dict[str, float], lock: threading.Lock) -> None:
    """One association: C-STORE each file, recording when each was acknowledged."""
    import pydicom
    from pynetdicom import AE
    from pynetdicom.sop_class import MRImageStorage

    ae = AE(ae_title="BENCH")
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="MEDCLASS")
    assert assoc.is_established
    for path in paths:
        ds = pydicom.dcmread(path)
        status = assoc.send_c_store(ds)
        assert status.Status == 0, hex(status.Status)
        with lock:
            acked[str(ds.SOPInstanceUID)] = time.perf_counter()
    assoc.release()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--associations", type=int, default=4)
    default_images = Path(os.environ.get("MEDCLASS_DATA_DIR", HERE.parent.parent / "shared/datasets"))
    parser.add_argument("--images", type=Path, default=default_images / "brain_mri_yesno")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="dicom-node-bench-"))
    images = sorted(p for p in args.images.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    paths = write_instances(images, args.instances, work / "in")
    pacs = RecordingScp(free_port())
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    command = [sys.executable, "-m", "medclass", "dicom-node", str(args.run), "--port", str(port)]
    command += ["--send-to", f"{pacs.ae_title}@127.0.0.1:{pacs.port}", "--spool", str(work / "spool")]
    log = (work / "node.log").open("w")
    node = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with pacs.running():
            start_wait = time.perf_counter()
            while not echo_ok(port):
                assert node.poll() is None, (work / "node.log").read_text()
                time.sleep(0.2)
            startup = time.perf_counter() - start_wait
            acked: dict[str, float] = {}
            lock = threading.Lock()
            shares = [paths[i :: args.associations] for i in range(args.associations)]
            begin = time.perf_counter()
            threads = [threading.Thread(target=send, args=(port, share, acked, lock)) for share in shares]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            sent = time.perf_counter() - begin
            deadline = time.monotonic() + args.timeout
            while len(pacs.received) < args.instances and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)  # anything sent twice would arrive now
            received, arrivals = list(pacs.received), list(pacs.arrivals)
    finally:
        node.terminate()
        node.wait(30)
        log.close()
    import highdicom as hd

    referenced = [
        hd.sr.ComprehensiveSR.from_dataset(r)
        .content.get_image_measurement_groups()[0]
        .source_images[0]
        .referenced_sop_instance_uid
        for r in received
    ]
    latency = np.array([t - acked[uid] for uid, t in zip(referenced, arrivals, strict=True)])
    total = max(arrivals) - begin
    from medclass.api.predict import predict
    from medclass.inference.runner import Predictor

    Predictor.load(args.run)  # warm the imports and the file cache as the node's start did
    t0 = time.perf_counter()
    predict(args.run, paths)
    plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    predict(args.run, paths, dicom_sr=work / "offline")
    with_sr = time.perf_counter() - t0
    result = {
        "instances": args.instances,
        "associations": args.associations,
        "node_startup_s": round(startup, 2),
        "c_store_all_acknowledged_s": round(sent, 2),
        "node_instances_per_s": round(args.instances / total, 1),
        "latency_ack_to_sr_stored_s": {
            "p50": round(float(np.percentile(latency, 50)), 2),
            "p95": round(float(np.percentile(latency, 95)), 2),
            "max": round(float(latency.max()), 2),
        },
        "srs_received": len(received),
        "distinct_instances_reported": len(set(referenced)),
        "every_instance_reported_once": sorted(referenced) == sorted(acked),
        "predict_images_per_s": round(args.instances / plain, 1),
        "predict_dicom_sr_images_per_s": round(args.instances / with_sr, 1),
        "cpu_threads": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
