"""gazekit record without a screen: viewer geometry and drawing, sources (Tobii through a fake SDK), the
calibration check, incremental writing and recovery, the recording loop with a scripted window, CLI errors."""

from __future__ import annotations

import json
import math
import sys
import time
import types

import cv2
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from gazekit import session, tables
from gazekit.cli import main
from gazekit.errors import GazekitError
from gazekit.geometry import Screen
from gazekit.record import calibration, writer
from gazekit.record.clock import Clock
from gazekit.record.recorder import RecordConfig, Recorder
from gazekit.record.sources.mouse import MouseSource
from gazekit.record.sources.replay import ReplaySource
from gazekit.record.viewer import Controls, Viewer, apply_window, render_image, wheel_delta
from gazekit.stimuli import Stimulus

SCREEN = Screen(1920, 1080, 531.0, 299.0, 650.0)


def volume(n=5, h=40, w=60) -> Stimulus:
    data = np.arange(n * h * w, dtype=np.float32).reshape(n, h, w)
    return Stimulus("vol1", "nifti", __import__("pathlib").Path("vol1.nii.gz"), data, (2.0, 1.0, 1.0), window=(50, 100))


# --- viewer ---------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    scale=st.floats(1.0, 6.0),
    x0=st.floats(-30.0, 80.0),
    y0=st.floats(-30.0, 80.0),
)
def test_render_puts_every_image_pixel_where_the_view_state_says(scale, x0, y0):
    h, w = 7, 9
    img = np.arange(1, h * w + 1, dtype=np.uint8).reshape(h, w)
    canvas = render_image(img, (120, 100), x0, y0, scale)
    # canvas pixel (X, Y) covers [X, X+1) x [Y, Y+1); its centre maps to image (x, y) = ((X+.5-x0)/s, ...)
    ys, xs = np.mgrid[0:100, 0:120]
    u = (xs + 0.5 - x0) / scale
    v = (ys + 0.5 - y0) / scale
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    # nearest-neighbour sampling may round differently within 1e-3 px of a pixel border: skip those
    safe = inside & (np.abs(u - np.round(u)) > 1e-3) & (np.abs(v - np.round(v)) > 1e-3)
    expected = img[np.floor(v[safe]).astype(int), np.floor(u[safe]).astype(int)]
    assert np.array_equal(canvas[safe], expected)
    outside = ~inside & (np.abs(u - np.round(u)) > 1e-3) & (np.abs(v - np.round(v)) > 1e-3)
    assert (canvas[outside] == 0).all()


def test_render_shrinks_a_large_image_into_its_exact_rectangle():
    img = np.full((100, 200), 100, np.uint8)
    canvas = render_image(img, (300, 200), 10.0, 20.0, 0.5)  # 200x100 px at half size: [10, 110) x [20, 70)
    assert (canvas[20:70, 10:110] == 100).all()
    canvas[20:70, 10:110] = 0
    assert (canvas == 0).all()


def test_apply_window_known_values():
    out = apply_window(np.array([[0.0, 50.0, 100.0, 150.0]]), center=100.0, width=100.0)
    # window [50, 150]: 0 -> 0 (clipped), 50 -> 0, 100 -> 127.5 -> 127, 150 -> 255
    assert out.tolist() == [[0, 0, 127, 255]]


def test_viewer_layout_scroll_zoom_and_event_row():
    v = Viewer([volume()], (640, 480), origin_px=(100.0, 50.0))
    # fit 60x40 into 640x480: scale min(640/60, 480/40) = 10.667, centred horizontally
    s = 640 / 60
    row = v.event_row(12.5)
    assert row["scale"] == pytest.approx(s)
    assert row["x0_px"] == pytest.approx(100.0 + 0.0)
    assert row["y0_px"] == pytest.approx(50.0 + (480 - 40 * s) / 2)
    assert row["slice_index"] == 2 and row["stimulus_id"] == "vol1" and row["window_center"] == 50
    assert v.on_key(ord("j")) == "changed" and v.slice_index == 3
    assert v.on_mouse(cv2.EVENT_MOUSEWHEEL, 10, 10, 120 << 16)  # one notch away: previous slice
    assert v.slice_index == 2
    for _ in range(10):
        v.on_key(65364)  # Down: clamps at the last slice
    assert v.slice_index == 4
    assert v.on_key(ord("+")) == "changed" and v.event_row(0)["scale"] == pytest.approx(s * 1.25)
    # left-drag by (+30, -10) pans the image by the same amount on screen
    before = v.event_row(0)
    v.on_mouse(cv2.EVENT_LBUTTONDOWN, 200, 200, 0)
    v.on_mouse(cv2.EVENT_MOUSEMOVE, 230, 190, 0)
    v.on_mouse(cv2.EVENT_LBUTTONUP, 230, 190, 0)
    after = v.event_row(0)
    assert (after["x0_px"] - before["x0_px"], after["y0_px"] - before["y0_px"]) == pytest.approx((30, -10))
    assert v.on_key(ord("]")) == "changed" and v.window == pytest.approx((50, 110))
    assert v.on_key(ord("q")) == "quit" and v.on_key(ord("n")) == "next"
    assert wheel_delta(-7864318) == -120  # what Qt sends for one notch towards the reader


def test_viewer_controls_switched_off_change_nothing():
    v = Viewer([volume()], (640, 480), controls=Controls(scroll=False, zoom=False, pan=False, window_level=False))
    state = (v.slice_index, v.zoom, v.pan, v.window)
    for key in (ord("j"), ord("k"), ord("+"), ord("-"), ord("["), ord("."), ord("0")):
        assert v.on_key(key) is None
    assert not v.on_mouse(cv2.EVENT_MOUSEWHEEL, 5, 5, 120 << 16)
    v.on_mouse(cv2.EVENT_LBUTTONDOWN, 5, 5, 0)
    assert not v.on_mouse(cv2.EVENT_MOUSEMOVE, 50, 50, 0)
    assert (v.slice_index, v.zoom, v.pan, v.window) == state


def test_viewer_2d_rgb_image_logs_no_slice_and_no_window():
    img = np.zeros((30, 20, 3), np.uint8)
    img[..., 0] = 200  # red
    stim = Stimulus("polyp", "image", __import__("pathlib").Path("polyp.png"), img)
    v = Viewer([stim], (200, 300))
    row = v.event_row(0.0)
    assert row["slice_index"] is None and row["window_center"] is None
    frame = v.render()
    cx = int(row["x0_px"] + 10 * row["scale"])
    assert frame[150, cx].tolist() == [0, 0, 200]  # shown as BGR
    assert v.next_stimulus() is False


# --- calibration ----------------------------------------------------------------------------------
def test_calibration_accuracy_and_precision_match_geometry():
    cx, cy = SCREEN.width_px / 2, SCREEN.height_px / 2
    mx = SCREEN.mm_per_px[0]
    off = math.tan(math.radians(1.0)) * 650.0 / mx  # 1 deg to the right of the centre, in px
    d = 3.0  # samples alternate +-3 px around the mean
    xs = cx + off + d * np.array([1, -1] * 20)
    m = calibration.target_metrics(SCREEN, (cx, cy), xs, np.full(40, cy))
    assert m["accuracy_deg"] == pytest.approx(1.0, abs=1e-3)
    # successive samples 2d px apart around 1 deg: angle = atan((off+d)mx/D) - atan((off-d)mx/D)
    s2s = math.degrees(math.atan((off + d) * mx / 650) - math.atan((off - d) * mx / 650))
    assert m["precision_rms_s2s_deg"] == pytest.approx(s2s, rel=1e-3)
    summary = calibration.summarize([m, {**m, "accuracy_deg": 2.0}], limit_deg=1.2)
    assert summary["accuracy_deg"] == pytest.approx(1.5, abs=1e-3) and summary["max_accuracy_deg"] == 2.0
    assert summary["passed"] is False
    assert len(calibration.target_grid((800, 600), 9)) == 9 and len(calibration.target_grid((800, 600), 5)) == 5


# --- sources --------------------------------------------------------------------------------------
class StepClock(Clock):
    """A clock the test moves by hand."""

    def __init__(self):
        super().__init__(0.0)
        self.t = 0.0

    def now_ms(self) -> float:
        return self.t


def test_mouse_source_keeps_its_rate_through_stalls_and_reports_invalid_before_the_pointer_arrives():
    pos = [None]
    src = MouseSource(lambda: pos[0], sampling_hz=100)
    clock = StepClock()
    src.start(clock)
    got = []
    polls = list(np.arange(0, 100, 2.5)) + [135.0, 137.5, 199.0]  # a 35 ms and a 61 ms stall
    for t in polls:
        clock.t = float(t)
        if t >= 50:
            pos[0] = (12.0, 34.0)
        if t >= 199:
            pos[0] = (50.0, 60.0)
        got += src.poll()
    # 100 Hz grid from 0 ms: 0, 10, ..., 190 -> 20 samples, none missing
    assert [g[0] for g in got] == pytest.approx(np.arange(0, 200, 10.0))
    assert [g[3] for g in got] == [False] * 5 + [True] * 15
    assert got[-2][1:3] == (12.0, 34.0) and got[-1][1:3] == (50.0, 60.0)  # stall filled with the old position


def test_replay_gives_samples_when_their_time_comes(tmp_path):
    df = pd.DataFrame({"t_ms": 1000.0 + np.arange(10) * 4.0, "x_screen_px": np.arange(10.0),
                       "y_screen_px": np.arange(10.0) * 2, "valid": True, "pupil": 3.0, "eye": "left"})  # fmt: skip
    tables.write_table("samples", df, tmp_path / "s.parquet")
    src = ReplaySource(tmp_path / "s.parquet")
    assert src.sampling_hz == pytest.approx(250.0) and src.eye == "left"
    clock = StepClock()
    clock.t = 500.0
    src.start(clock)
    clock.t = 509.0  # 9 ms after start: samples at 0, 4, 8 ms
    first = src.poll()
    assert [s[0] for s in first] == [500.0, 504.0, 508.0] and [s[1] for s in first] == [0.0, 1.0, 2.0]
    clock.t = 10_000.0
    assert len(src.poll()) == 7 and src.finished


def fake_tobii(offset_us: float) -> types.ModuleType:
    """A stand-in for ``tobii_research``: one tracker whose clock is monotonic time + ``offset_us``."""
    sdk = types.ModuleType("tobii_research")
    sdk.EYETRACKER_GAZE_DATA = "gaze_data"

    class Tracker:
        address, model, serial_number = "tet-tcp://10.0.0.2", "Tobii Pro Spectrum", "TPS-0001"
        subscribers: dict = {}

        def get_gaze_output_frequency(self):
            return 600.0

        def subscribe_to(self, kind, callback, as_dictionary=False):
            assert as_dictionary
            self.subscribers[kind] = callback

        def unsubscribe_from(self, kind, callback):
            del self.subscribers[kind]

    sdk.tracker = Tracker()
    sdk.find_all_eyetrackers = lambda: [sdk.tracker]
    sdk.get_system_time_stamp = lambda: int(time.monotonic() * 1e6 + offset_us)
    return sdk


def gaze(t_us, left, right, lv=1, rv=1, pupils=(3.0, 4.0)):
    return {"system_time_stamp": t_us, "device_time_stamp": 0,
            "left_gaze_point_on_display_area": left, "left_gaze_point_validity": lv,
            "right_gaze_point_on_display_area": right, "right_gaze_point_validity": rv,
            "left_pupil_diameter": pupils[0], "left_pupil_validity": 1,
            "right_pupil_diameter": pupils[1], "right_pupil_validity": 1}  # fmt: skip


def test_tobii_source_with_a_fake_sdk(monkeypatch):
    from gazekit.record.sources.tobii import TobiiSource

    offset_us = 123_456_789.0
    sdk = fake_tobii(offset_us)
    monkeypatch.setitem(sys.modules, "tobii_research", sdk)
    clock = Clock()
    src = TobiiSource((1920, 1080))
    src.start(clock)
    assert src.sampling_hz == 600.0 and "TPS-0001" in src.model
    callback = sdk.tracker.subscribers["gaze_data"]
    # a sample stamped 250 ms after the session start on the tracker's clock
    t_us = (clock.t0_s + 0.25) * 1e6 + offset_us
    callback(gaze(t_us, (0.25, 0.5), (0.35, 0.7)))
    callback(gaze(t_us + 1e4, (0.25, 0.5), (float("nan"),) * 2, rv=0))
    callback(gaze(t_us + 2e4, (float("nan"),) * 2, (float("nan"),) * 2, lv=0, rv=0))
    got = src.poll()
    assert got[0][0] == pytest.approx(250.0, abs=0.05) and got[1][0] == pytest.approx(260.0, abs=0.05)
    assert got[0][1:5] == pytest.approx((0.30 * 1920, 0.60 * 1080, True, 3.5))  # both eyes averaged
    assert got[1][1:4] == pytest.approx((0.25 * 1920, 0.5 * 1080, True))  # left eye only
    assert got[2][3] is False and math.isnan(got[2][1])
    src.stop()
    assert sdk.tracker.subscribers == {}


def test_tobii_source_without_sdk_says_how_to_install(monkeypatch):
    from gazekit.record.sources.tobii import TobiiSource

    monkeypatch.setitem(sys.modules, "tobii_research", None)
    with pytest.raises(GazekitError, match=r"\[tobii\]"):
        TobiiSource((1920, 1080)).start(Clock())


# --- writer ---------------------------------------------------------------------------------------
def sidecar(name: str) -> dict:
    return {"session_id": name, "reader_id": "r1", "SamplingFrequency": 60.0, **session.meta_from_screen(SCREEN),
            "RecordedEye": "both", "Manufacturer": "test", "ManufacturersModelName": "test",
            "StartTime": "2026-01-01T00:00:00Z",
            "stimuli": [{"id": "vol1", "kind": "nifti", "source": "v.nii.gz", "shape": [5, 40, 60],
                         "spacing": None}]}  # fmt: skip


def event(t_ms: float, k: int) -> dict:
    return {"t_ms": t_ms, "stimulus_id": "vol1", "slice_index": k, "x0_px": 10.0, "y0_px": 20.0, "scale": 2.0,
            "rotation_deg": 0, "flip_x": False, "flip_y": False, "window_center": 1.0, "window_width": 2.0}  # fmt: skip


def test_writer_flushes_parts_a_crash_keeps_them_and_recover_compacts(tmp_path):
    folder = tmp_path / "s1"
    w = writer.SessionWriter(folder, sidecar("s1"), flush_every_ms=0.0)  # flush on every call
    rows = [(float(i), 100.0 + i, 200.0, True, math.nan, "both") for i in range(30)]
    for i in range(3):
        w.add_samples(rows[10 * i : 10 * (i + 1)])
        w.add_event(event(10.0 * i, i))
    w.wait()
    # "crash" here: no close. Every file in the folder is readable, 3 parts per table.
    assert len(list((folder / "samples.parts").glob("*.parquet"))) == 3
    assert json.loads((folder / "session.json").read_text())["status"] == "recording"
    assert len(writer.read_parts(folder, "samples")) == 30
    result = CliRunner().invoke(main, ["record", "--recover", "-o", str(folder)])
    assert result.exit_code == 0, result.output
    sess = session.read_session(folder)  # the session-folder reader accepts it
    assert sess.meta["status"] == "recovered"
    assert sess.samples["x_screen_px"].tolist() == [100.0 + i for i in range(30)]
    assert sess.viewer_events["slice_index"].tolist() == [0, 1, 2]
    assert not (folder / "samples.parts").exists()
    again = CliRunner().invoke(main, ["record", "--recover", "-o", str(folder)])
    assert again.exit_code == 2 and "expected an interrupted recording" in again.output


def test_writer_refuses_a_folder_with_files(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(GazekitError, match="already has files"):
        writer.SessionWriter(tmp_path, sidecar("t"))


# --- the recording loop with a scripted window ------------------------------------------------------
class FakeDisplay:
    """A window driven by a script of (time_ms, action): a key code, ("mouse", event, x, y, flags), "close"."""

    def __init__(self, script, canvas_wh=(640, 480), origin=(100.0, 50.0)):
        self.script = sorted(script, key=lambda s: s[0])
        self.canvas_wh = canvas_wh
        self.origin = origin
        self.frames = []
        self.open = True
        self.t0 = time.monotonic()
        self.handler = None

    def origin_px(self):
        return self.origin

    def show(self, frame):
        self.frames.append(frame)

    def set_mouse_handler(self, handler):
        self.handler = handler

    def wait_key(self, ms):
        time.sleep(ms / 1000)
        now = (time.monotonic() - self.t0) * 1000
        while self.script and self.script[0][0] <= now:
            _, action = self.script.pop(0)
            if action == "close":
                self.open = False
            elif action == "interrupt":
                raise KeyboardInterrupt
            elif isinstance(action, tuple) and action[0] == "move":  # the window was dragged elsewhere
                self.origin = action[1:]
            elif isinstance(action, tuple) and action[0] == "mouse":
                self.handler(*action[1:])
            else:
                return action
        return -1

    def is_open(self):
        return self.open

    def close(self):
        self.open = False


class ListSource:
    """Gives fixed samples at given session times; ``silent`` = (start, end) ms with nothing."""

    manufacturer, model, eye = "test", "list", "both"

    def __init__(self, sampling_hz=100.0, xy=(500.0, 400.0), silent=(math.inf, math.inf)):
        self.sampling_hz, self.xy, self.silent = sampling_hz, xy, silent

    def start(self, clock):
        self.clock, self.next = clock, 0.0

    def poll(self):
        out = []
        now = self.clock.now_ms()
        while self.next <= now:
            if not self.silent[0] <= self.next < self.silent[1]:
                out.append((self.next, *self.xy, True, math.nan, "both"))
            self.next += 1000 / self.sampling_hz
        return out

    def stop(self):
        pass


def config(tmp_path, **kw):
    return RecordConfig(session_dir=tmp_path / "sess", screen=SCREEN, flush_every_ms=200.0, **kw)


def test_recorder_logs_display_changes_on_the_gaze_clock_and_closes_on_q(tmp_path):
    script = [(150, ord("j")), (300, ("mouse", cv2.EVENT_MOUSEWHEEL, 5, 5, 120 << 16)), (450, ord("q"))]
    disp = FakeDisplay(script)
    meta = Recorder([volume()], ListSource(), disp, config(tmp_path)).run()
    sess = session.read_session(tmp_path / "sess")
    ev = sess.viewer_events
    assert meta["status"] == "complete" and sess.meta["gaze_gaps"] == []
    assert ev["slice_index"].tolist()[:3] == [2, 3, 2] and ev["stimulus_id"].iloc[-1] == ""
    # each change is logged when it was shown: within a few loop turns of its scripted time
    assert ev["t_ms"].iloc[1] == pytest.approx(150, abs=40) and ev["t_ms"].iloc[2] == pytest.approx(300, abs=40)
    s = 640 / 60
    assert ev["x0_px"].iloc[0] == pytest.approx(100.0) and ev["y0_px"].iloc[0] == pytest.approx(50 + (480 - 40 * s) / 2)
    # 100 Hz source over ~450 ms
    assert len(sess.samples) == pytest.approx(meta["duration_ms"] / 10, abs=3)
    assert len(disp.frames) == 3


def test_recorder_follows_the_worklist_and_a_moved_window(tmp_path):
    img = np.full((30, 20), 7, np.uint8)
    second = Stimulus("img2", "image", __import__("pathlib").Path("img2.png"), img)
    script = [(100, ("move", 300.0, 90.0)), (250, ord("n")), (400, ord("n"))]  # the second n ends the worklist
    meta = Recorder([volume(), second], ListSource(), FakeDisplay(script), config(tmp_path)).run()
    ev = session.read_session(tmp_path / "sess").viewer_events
    assert ev["stimulus_id"].tolist() == ["vol1", "vol1", "img2", ""]
    assert ev["x0_px"].iloc[1] - ev["x0_px"].iloc[0] == pytest.approx(200.0)  # window moved by (200, 40)
    assert ev["y0_px"].iloc[1] - ev["y0_px"].iloc[0] == pytest.approx(40.0)
    assert pd.isna(ev["slice_index"].iloc[2]) and ev["scale"].iloc[2] == pytest.approx(min(640 / 20, 480 / 30))
    assert [s["id"] for s in meta["stimuli"]] == ["vol1", "img2"]
    assert "end of the worklist" in (tmp_path / "sess" / "record.log").read_text()


def test_recorder_marks_a_lost_stream_and_resumes(tmp_path):
    disp = FakeDisplay([(1300, ord("q"))])
    src = ListSource(silent=(300.0, 1000.0))
    meta = Recorder([volume()], src, disp, config(tmp_path)).run()
    (gap,) = meta["gaze_gaps"]
    # last sample before the silence at 290 ms, first after it at 1000 ms
    assert gap["t_start_ms"] == pytest.approx(290, abs=0.01) and gap["t_end_ms"] == pytest.approx(1000, abs=0.01)
    log = (tmp_path / "sess" / "record.log").read_text()
    assert "gaze stream lost" in log and "gaze stream back" in log
    # the banner was drawn (red bar, BGR (0, 0, 170)) on a frame while lost, and not on the first one
    assert disp.frames[0][5, 5].tolist() != [0, 0, 170]
    assert any(f[5, 5].tolist() == [0, 0, 170] for f in disp.frames)


@pytest.mark.parametrize("how", ["close", "interrupt"])
def test_recorder_closes_cleanly_on_window_close_and_ctrl_c(tmp_path, how):
    meta = Recorder([volume()], ListSource(), FakeDisplay([(250, how)]), config(tmp_path)).run()
    sess = session.read_session(tmp_path / "sess")
    assert meta["status"] == "complete" and len(sess.samples) > 10
    assert ("window closed" if how == "close" else "interrupted") in (tmp_path / "sess" / "record.log").read_text()


def test_recorder_validation_measures_a_known_offset_and_warns(tmp_path):
    # the tracker reports every gaze 40 px right of where the reader looks; the reader looks at each target
    cfg = config(tmp_path, validate=True, validation_points=5, target_ms=300.0, settle_ms=100.0, accuracy_limit_deg=0.5)
    disp = FakeDisplay([(5 * 300 + 200, ord("q"))], canvas_wh=(1920, 1080), origin=(0.0, 0.0))
    targets = calibration.target_grid((1920, 1080), 5)

    class OnTarget(ListSource):
        def poll(self):  # the reader looks at the target drawn on the last frame (centroid of its pixels)
            out = super().poll()
            ys, xs = np.nonzero(disp.frames[-1][..., 0] > 0) if disp.frames else ([], [])
            if not len(xs):
                return out
            x, y = xs.mean() + 0.5, ys.mean() + 0.5
            return [(t, x + 40.0, y, *rest) for t, _, _, *rest in out]

    meta = Recorder([volume()], OnTarget(), disp, cfg).run()
    per_target = meta["validation"]["targets"]
    vec = calibration.eye_vectors
    expected = [calibration.angle_deg(vec(SCREEN, [x], [y]), vec(SCREEN, [x + 40.0], [y]))[0] for x, y in targets]
    assert [t["accuracy_deg"] for t in per_target] == pytest.approx(expected, abs=0.05)
    assert meta["AverageCalibrationError"] == pytest.approx(np.mean(expected), abs=0.05)
    assert np.mean(expected) > 0.5 and meta["warnings"] and "worse than the limit" in meta["warnings"][0]
    session.validate_meta(meta)


# --- CLI errors -----------------------------------------------------------------------------------
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["record", "-o", str(tmp_path / "s")])
    assert r.exit_code == 2 and "expected at least one stimulus" in r.output
    r = runner.invoke(main, ["record", str(tmp_path / "missing.nii.gz"), "-o", str(tmp_path / "s")])
    assert r.exit_code == 2 and "missing.nii.gz: file or folder not found" in r.output
    (tmp_path / "list.txt").write_text("# worklist\nnot_there.nii.gz\n")
    r = runner.invoke(main, ["record", "--worklist", str(tmp_path / "list.txt"), "-o", str(tmp_path / "s")])
    assert r.exit_code == 2 and "list.txt, line 2" in r.output
    img = tmp_path / "img.png"
    cv2.imwrite(str(img), np.zeros((8, 8), np.uint8))
    r = runner.invoke(main, ["record", str(img), "-o", str(tmp_path / "s"), "--window", "big"])
    assert r.exit_code == 2 and "--window: expected WIDTHxHEIGHT" in r.output
    r = runner.invoke(
        main, ["record", str(img), "-o", str(tmp_path / "s"), "--source", "replay", "--screen-px", "800x600"]
    )
    assert r.exit_code == 2 and "--replay-file" in r.output
    assert not (tmp_path / "s").exists()


def test_lsl_source_maps_sender_time_stamps_onto_the_session_clock():
    pylsl = pytest.importorskip("pylsl", reason="pylsl not installed (pip install '.[lsl]')")
    from gazekit.record.sources.lsl import LslSource

    name = f"gazekit-unit-{id(pylsl)}"
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "Gaze", 2, 0, "double64", name))
    clock = Clock()
    src = LslSource(name, ("0", "1"), "norm", (1000, 500))
    src.start(clock)
    stamps = [pylsl.local_clock() - 0.2 + 0.01 * i for i in range(20)]  # sent with explicit stamps
    for i, ts in enumerate(stamps):
        outlet.push_sample([0.1 + 0.01 * i, 0.5], ts)
    got, deadline = [], time.monotonic() + 5
    while len(got) < 20 and time.monotonic() < deadline:
        got += src.poll()
        time.sleep(0.01)
    src.stop()
    # pylsl.local_clock() is this machine's monotonic clock: t_ms = (stamp - session start) * 1000
    assert [g[0] for g in got] == pytest.approx([(ts - clock.t0_s) * 1000 for ts in stamps], abs=1.0)
    assert [g[1] for g in got] == pytest.approx([1000 * (0.1 + 0.01 * i) for i in range(20)])  # norm -> px
    assert all(g[2] == 250.0 for g in got)


def test_replay_of_a_vendor_export_goes_through_the_reader_registry(tmp_path, monkeypatch):
    from gazekit import readers

    fake = types.ModuleType("fake_reader")
    fake.NAME = "fake"
    fake.sniff = lambda head: head.startswith("FAKE")
    fake.read = lambda path, opts: readers.Recording(
        "fake",
        samples=pd.DataFrame(
            {
                "session_id": ["a"] * 3 + ["b"],
                "t_ms": [0.0, 2.0, 4.0, 0.0],
                "x_norm": [0.5, 0.25, 0.0, 1.0],
                "y_norm": [0.5, 0.5, 0.5, 1.0],
                "valid": True,
                "pupil": np.nan,
                "eye": "left",
            }
        ),  # fmt: skip
    )
    monkeypatch.setattr(readers, "READERS", (fake,))
    path = tmp_path / "export.txt"
    path.write_text("FAKE export\n")
    with pytest.raises(GazekitError, match="screen resolution"):
        ReplaySource(path)
    src = ReplaySource(path, (800, 600))
    clock = StepClock()
    src.start(clock)
    clock.t = 100.0
    got = src.poll()  # the first session only, scaled to the screen
    assert [(g[1], g[2]) for g in got] == [(400.0, 300.0), (200.0, 300.0), (0.0, 300.0)]
    assert src.sampling_hz == pytest.approx(500.0)


def test_replay_of_the_real_tobii_sdk_export(tmp_path):
    from gazekit import readers
    from tests.conftest import shared_path

    path = shared_path("gaze-samples", "tobiisdk_tobii_research_sample_gaze_data.csv")
    assert readers.pick_reader(path).NAME == "tobii-sdk"
    src = ReplaySource(path, (1920, 1080))
    rec = readers.read(path).samples
    if "session_id" in rec:
        rec = rec[rec["session_id"] == rec["session_id"].iloc[0]]
    rec = rec.sort_values("t_ms", kind="stable")
    clock = StepClock()
    src.start(clock)
    clock.t = 1e9
    got = src.poll()
    assert len(got) == len(rec) and src.finished
    x = np.array([g[1] for g in got])
    expected = rec["x_screen_px"] if "x_screen_px" in rec else rec["x_norm"] * 1920
    assert np.allclose(x, expected.to_numpy(float), equal_nan=True)
    assert [g[0] for g in got] == pytest.approx((rec["t_ms"] - rec["t_ms"].iloc[0]).tolist())


def test_recorder_source_that_fails_to_start_leaves_no_folder_and_an_error_aborts(tmp_path):
    class Missing(ListSource):
        def start(self, clock):
            raise GazekitError(None, "--source lsl", "no LSL stream")

    disp = FakeDisplay([])
    with pytest.raises(GazekitError, match="no LSL stream"):
        Recorder([volume()], Missing(), disp, config(tmp_path)).run()
    assert not (tmp_path / "sess").exists() and not disp.open

    class Breaks(ListSource):  # an irregular stream (no nominal rate) that fails after ~300 ms
        def poll(self):
            if self.clock.now_ms() > 300:
                raise RuntimeError("cable pulled")
            return super().poll()

    with pytest.raises(RuntimeError, match="cable pulled"):
        Recorder([volume()], Breaks(sampling_hz=200.0), FakeDisplay([]), config(tmp_path)).run()
    sess = session.read_session(tmp_path / "sess")  # everything recorded so far is kept
    assert sess.meta["status"] == "aborted" and "cable pulled" in sess.meta["warnings"][0]
    assert len(sess.samples) == pytest.approx(300 / 5, abs=8)


def test_recorder_measures_the_rate_of_an_irregular_stream(tmp_path):
    class Irregular(ListSource):  # no nominal rate (an LSL stream declaring 0 Hz), samples every 4 ms
        def poll(self):
            out = []
            while self.next <= self.clock.now_ms():
                out.append((self.next, *self.xy, True, math.nan, "both"))
                self.next += 4.0
            return out

    src = Irregular(sampling_hz=math.nan)
    meta = Recorder([volume()], src, FakeDisplay([(300, ord("q"))]), config(tmp_path)).run()
    assert meta["SamplingFrequency"] == pytest.approx(250.0, rel=1e-6)
