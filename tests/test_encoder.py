"""The CLIP encoder: loading paths, output contract, errors, and the tiny fixture's accuracy."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

import shotseek.pipeline.encoder as encoder_module
from shotseek.pipeline import encoder as enc
from shotseek.pipeline.config import Settings
from shotseek.pipeline.encoder import create_encoder, get_encoder, pick_precision, resolve_model
from shotseek.pipeline.errors import ModelUnavailableError, UnknownModelError
from tests.conftest import TINY_CLIP, TINY_CLIP_DIR
from tests.kit.shapes import CLASSES, caption
from tests.kit.train_tiny_clip import random_picture

HELDOUT_SEED = 20261126  # not the training seed (0) nor its held-out seed


@pytest.fixture(scope="module")
def random_vit_b32():
    return create_encoder("ViT-B-32", "none", device="cpu")


def test_random_weights_give_normalised_float32_vectors(random_vit_b32):
    frames = [np.full((180, 320, 3), v, np.uint8) for v in (0, 80, 160, 240)]
    vectors = random_vit_b32.encode_images(frames)
    assert vectors.shape == (4, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    texts = random_vit_b32.encode_texts(["a cat", "a dog", "a red square"])
    assert texts.shape == (3, 512)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert random_vit_b32.model_id == "ViT-B-32/none"
    assert random_vit_b32.precision == "fp32" and random_vit_b32.device.type == "cpu"


def test_random_weights_are_the_same_in_every_process(random_vit_b32):
    again = create_encoder("ViT-B-32", "none", device="cpu")
    np.testing.assert_allclose(
        again.encode_texts(["a boat"]), random_vit_b32.encode_texts(["a boat"]), atol=1e-6
    )


def test_images_may_be_arrays_or_pil_and_batches_split_cleanly(random_vit_b32):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(5)]
    random_vit_b32.batch_size = 2  # 5 images: batches of 2, 2, 1
    try:
        as_arrays = random_vit_b32.encode_images(frames)
        as_pil = random_vit_b32.encode_images(Image.fromarray(f) for f in frames)
    finally:
        random_vit_b32.batch_size = 32
    one_batch = random_vit_b32.encode_images(frames)
    np.testing.assert_allclose(as_arrays, as_pil, atol=1e-6)
    np.testing.assert_allclose(as_arrays, one_batch, atol=1e-5)
    assert random_vit_b32.encode_images([]).shape == (0, 512)


def test_preprocessing_on_the_device_gives_open_clips_vectors(random_vit_b32):
    # On a GPU, frames are resized, cropped and normalised as uint8 batches on the device; run
    # here on the CPU, the vectors must be those of open_clip's own (PIL) transform.
    import copy

    rng = np.random.default_rng(7)
    smooth = [
        np.asarray(Image.fromarray(rng.integers(0, 255, (9, 16, 3), dtype=np.uint8)).resize(size))
        for size in [(398, 224)] * 3 + [(1280, 720)] * 3 + [(224, 398), (398, 224)]
    ]
    frames = [*smooth, Image.fromarray(smooth[0]).convert("L")]  # a grey PIL image too
    on_pil = random_vit_b32.encode_images(frames)
    device = copy.copy(random_vit_b32)
    device.preprocess_on_device = True
    device.batch_size = 4  # shapes change inside batches and between them
    on_device = device.encode_images(frames)
    cosine = np.sum(on_pil * on_device, axis=1)
    assert cosine.min() >= 0.999, cosine
    # frames at the model's size (as indexing decodes them) get the very same pixels
    same = torch.stack([random_vit_b32._prepare(f) for f in smooth[:3]])
    assert torch.allclose(device._device_pixels(smooth[:3]), same, atol=1e-5)
    assert not random_vit_b32.preprocess_on_device  # a CPU keeps PIL on threads


def test_tiny_fixture_ranks_the_right_caption_first_on_heldout_images(tiny_encoder):
    rng = np.random.default_rng(HELDOUT_SEED)
    pictures, labels = zip(*(random_picture(rng) for _ in range(640)))
    images = tiny_encoder.encode_images(pictures)
    captions = tiny_encoder.encode_texts([caption(c, s) for c, s in CLASSES])
    accuracy = float(np.mean((images @ captions.T).argmax(1) == np.array(labels)))
    assert accuracy >= 0.9, accuracy
    assert tiny_encoder.model_id.startswith("local-dir:tiny_clip/")
    assert tiny_encoder.dim == 64


def test_tiny_fixture_text_query_scores_matching_frames_highest(tiny_encoder):
    from tests.kit.footage import Scene

    frames = {
        s: Scene(c, s, 1.0).frame(0.3, 320, 180)
        for c, s in [
            ("yellow", "triangle"),
            ("blue", "circle"),
            ("red", "square"),
            ("green", "star"),
        ]
    }
    vectors = tiny_encoder.encode_images(list(frames.values()))
    for i, (shape, color) in enumerate(
        [("triangle", "yellow"), ("circle", "blue"), ("square", "red"), ("star", "green")]
    ):
        scores = vectors @ tiny_encoder.encode_text(f"a {color} {shape}")
        assert int(scores.argmax()) == i


def test_unknown_model_name_suggests_close_ones():
    with pytest.raises(UnknownModelError, match="ViT-L-14"):
        resolve_model("ViT-L-15", "none")


def test_unknown_tag_lists_the_models_tags():
    with pytest.raises(UnknownModelError, match="metaclip_fullcc"):
        resolve_model("ViT-L-14", "metaclip_fulcc")


def test_random_weights_are_never_a_silent_fallback():
    with pytest.raises(UnknownModelError, match="no pretrained weights named"):
        resolve_model("ViT-B-32", "")


def test_missing_checkpoint_file_is_named():
    with pytest.raises(ModelUnavailableError, match="/no/such/weights.bin"):
        resolve_model("ViT-B-32", "/no/such/weights.bin")


def test_local_dir_without_config_is_explained(tmp_path):
    with pytest.raises(ModelUnavailableError, match="open_clip_config.json"):
        resolve_model(f"local-dir:{tmp_path}", None)


def test_unreachable_weights_say_which_model_and_how_to_bring_it_offline(tmp_path):
    # conftest sets HF_HUB_OFFLINE=1 and the cache folder is empty: the download must fail fast
    with pytest.raises(ModelUnavailableError) as info:
        create_encoder("ViT-L-14-quickgelu", "metaclip_fullcc", cache_dir=tmp_path)
    message = str(info.value)
    assert "ViT-L-14-quickgelu" in message and "metaclip_fullcc" in message
    assert "timm/vit_large_patch14_clip_224.metaclip_2pt5b" in message
    assert "--pretrained" in message and "--checkpoint-tag metaclip_fullcc" in message


def test_an_unreachable_hub_fails_at_once_with_the_whole_message(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: refused at once
    tried = []
    monkeypatch.setattr(open_clip, "download_pretrained", lambda *a, **k: tried.append(a))
    with pytest.raises(ModelUnavailableError) as info:
        create_encoder("ViT-B-32", "openai", cache_dir=tmp_path)
    message = str(info.value)
    assert not tried  # no download was attempted, so nothing retried for a minute
    assert "127.0.0.1:9 cannot be reached" in message
    assert message.endswith("--checkpoint-tag openai")  # whole, not cut mid-word


class _Captured(Exception):
    pass


@pytest.fixture
def spy_create(monkeypatch, tmp_path):
    """Capture what create_encoder asks open_clip for, without loading a real model."""
    calls = {}
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"stand-in")

    def fake_create(name, pretrained=None, **kwargs):
        calls.update(name=name, pretrained=pretrained, **kwargs)
        raise _Captured

    monkeypatch.setattr(open_clip, "download_pretrained", lambda cfg, cache_dir=None: str(weights))
    monkeypatch.setattr(open_clip, "create_model_and_transforms", fake_create)
    monkeypatch.setattr(encoder_module, "_hub_unreachable", lambda: None)  # as if online
    return calls, weights


def _create_and_capture(*args, **kwargs):
    with pytest.raises(ModelUnavailableError) as info:
        create_encoder(*args, **kwargs)
    assert isinstance(info.value.__cause__, _Captured)


def test_a_quickgelu_tag_forces_quickgelu_and_its_preprocessing(spy_create):
    calls, weights = spy_create
    _create_and_capture("ViT-L-14", "metaclip_fullcc", device="cpu")
    assert calls["force_quick_gelu"] is True
    assert calls["pretrained"] == str(weights)
    assert tuple(calls["image_mean"]) == pytest.approx((0.48145466, 0.4578275, 0.40821073))
    assert calls["image_interpolation"] == "bicubic"


def test_a_tag_with_its_own_mean_and_std_gets_them(spy_create):
    calls, _ = spy_create
    _create_and_capture("ViT-L-14", "laion2b_s32b_b82k", device="cpu")
    assert calls["force_quick_gelu"] is False
    assert tuple(calls["image_mean"]) == (0.5, 0.5, 0.5)
    assert tuple(calls["image_std"]) == (0.5, 0.5, 0.5)


def test_a_checkpoint_file_gets_its_tags_preprocessing_and_model_id(spy_create):
    calls, weights = spy_create
    source = resolve_model("ViT-L-14", str(weights), checkpoint_tag="metaclip_fullcc")
    assert source.kind == "checkpoint" and source.force_quick_gelu
    assert enc.model_id_of(source) == "ViT-L-14-quickgelu/metaclip_fullcc"
    _create_and_capture("ViT-L-14", str(weights), checkpoint_tag="metaclip_fullcc", device="cpu")
    assert calls["pretrained"] == str(weights) and calls["force_quick_gelu"] is True


def test_model_ids_name_the_embedding_space(tmp_path):
    assert enc.model_id_of(resolve_model("ViT-L-14", "metaclip_fullcc")) == (
        "ViT-L-14-quickgelu/metaclip_fullcc"
    )
    assert enc.model_id_of(resolve_model("ViT-L-14-quickgelu", "metaclip_fullcc")) == (
        "ViT-L-14-quickgelu/metaclip_fullcc"
    )
    ckpt = tmp_path / "mine.pt"
    ckpt.write_bytes(b"abc")
    assert enc.model_id_of(resolve_model("ViT-B-32", str(ckpt))).startswith("ViT-B-32/file-")


def test_precision_is_fp32_on_cpu_unless_asked():
    import torch

    assert pick_precision("auto", torch.device("cpu")) == "fp32"
    assert pick_precision("auto", torch.device("cuda")) in ("bf16", "fp16")
    assert pick_precision("fp16", torch.device("cpu")) == "fp16"


def test_the_encoder_is_loaded_once_per_process():
    settings = Settings(model=TINY_CLIP, device="cpu")
    assert get_encoder(settings) is get_encoder(Settings(model=TINY_CLIP, device="cpu"))


@pytest.mark.gpu
def test_gpu_encoder_runs_in_half_precision_and_matches_fp32():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    gpu = create_encoder("ViT-B-32", "none", device="cuda")
    cpu = create_encoder("ViT-B-32", "none", device="cpu")
    assert gpu.precision in ("bf16", "fp16")
    frames = [np.random.default_rng(i).integers(0, 255, (224, 224, 3), np.uint8) for i in range(4)]
    a, b = gpu.encode_images(frames), cpu.encode_images(frames)
    assert a.dtype == np.float32
    assert float(np.min(np.sum(a * b, axis=1))) > 0.99
    assert gpu.preprocess_on_device and gpu.batch_size >= 8  # sized by its free memory


def test_batches_are_sized_by_free_memory_on_a_gpu_and_shared_between_cpu_workers(monkeypatch):
    from shotseek.pipeline.config import CPU_BATCH, CPU_WORKER_BATCH_MIN, GPU_BATCH_MAX
    from shotseek.pipeline.encoder import batch_for_memory

    gib = 2**30
    assert batch_for_memory(free_bytes=80 * gib, per_image_bytes=60e6) == 512  # 682 fit
    assert batch_for_memory(free_bytes=100 * gib, per_image_bytes=1e6) == GPU_BATCH_MAX
    assert batch_for_memory(free_bytes=1e6, per_image_bytes=60e6) == 1  # never 0
    assert batch_for_memory(free_bytes=8 * gib, per_image_bytes=0) == GPU_BATCH_MAX
    # On a CPU (batch_size auto) one batch goes to each one-per-core worker: the images in
    # flight stay about CPU_BATCH however many cores there are.
    for cores, batch in ((1, CPU_BATCH), (2, CPU_BATCH // 2), (64, CPU_WORKER_BATCH_MIN)):
        monkeypatch.setattr(torch, "get_num_threads", lambda cores=cores: cores)
        cpu = create_encoder(TINY_CLIP, None, device="cpu")
        assert (cpu.workers, cpu.batch_size) == (cores, batch)
        assert create_encoder(TINY_CLIP, None, device="cpu", batch_size=5).batch_size == 5


def test_weights_from_a_file_are_loaded_without_drawing_random_ones_first(tiny_encoder, tmp_path):
    # The fast load (no random init: the checkpoint fills every weight) gives exactly the model
    # open_clip builds the slow way, and leaves torch.nn.init as it was.
    init_before = dict(vars(torch.nn.init))
    reference, _, _ = open_clip.create_model_and_transforms(TINY_CLIP)
    reference.eval()
    tokens = open_clip.get_tokenizer(TINY_CLIP)(["a red square", "a blue circle"])
    pixels = torch.rand(2, 3, tiny_encoder.image_size, tiny_encoder.image_size)
    with torch.no_grad():
        want_text = torch.nn.functional.normalize(reference.encode_text(tokens), dim=-1)
        want_image = torch.nn.functional.normalize(reference.encode_image(pixels), dim=-1)
        got_text = tiny_encoder.model.encode_text(tokens)
        got_image = tiny_encoder.model.encode_image(pixels)
    np.testing.assert_allclose(nn_normalise(got_text), want_text.numpy(), atol=1e-6)
    np.testing.assert_allclose(nn_normalise(got_image), want_image.numpy(), atol=1e-6)
    assert dict(vars(torch.nn.init)) == init_before

    # A checkpoint that lacks a weight is an error, never a model with uninitialised memory.
    state = load_file(TINY_CLIP_DIR / "open_clip_model.safetensors")
    state.pop(next(k for k in state if k.startswith("visual.") and k.endswith(".weight")))
    broken = tmp_path / "model"
    broken.mkdir()
    save_file(state, broken / "open_clip_model.safetensors")
    (broken / "open_clip_config.json").write_text(
        (TINY_CLIP_DIR / "open_clip_config.json").read_text()
    )
    with pytest.raises(ModelUnavailableError, match="Missing key"):
        create_encoder(f"local-dir:{broken}", None, device="cpu")
    assert dict(vars(torch.nn.init)) == init_before


def nn_normalise(vectors: torch.Tensor) -> np.ndarray:
    return torch.nn.functional.normalize(vectors, dim=-1).numpy()


@pytest.mark.parametrize(
    ("failure", "says"),
    [
        (ModuleNotFoundError("No module named 'transformers'"), "`uv sync`"),
        (
            OSError("We couldn't connect to 'https://huggingface.co' to load the files."),
            "uv run hf download timm/ViT-B-16-SigLIP --exclude '*.safetensors'",
        ),
    ],
)
def test_a_hub_tokenizer_that_cannot_load_says_what_to_install_or_fetch(monkeypatch, failure, says):
    # SigLIP reads text with a Hugging Face tokenizer (transformers + files from the hub). Its
    # absence is found before any model is built, and the error says what to do about it.
    def no_tokenizer(name, **kwargs):
        raise failure

    built = []
    monkeypatch.setattr(open_clip, "get_tokenizer", no_tokenizer)
    monkeypatch.setattr(open_clip, "create_model_and_transforms", lambda *a, **k: built.append(a))
    with pytest.raises(ModelUnavailableError) as info:
        create_encoder("ViT-B-16-SigLIP-256", "none", device="cpu")
    message = str(info.value)
    assert "ViT-B-16-SigLIP-256" in message and says in message and ".." not in message
    assert not built


def test_an_unreachable_hub_reads_a_hub_tokenizer_from_the_cache_at_once(monkeypatch, tmp_path):
    # transformers would retry each tokenizer file for a minute; shotseek checks the hub once and,
    # unreachable, asks for the cache only (offline mode for that call, restored after)
    import huggingface_hub.constants as hub_constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: refused at once
    real = open_clip.get_tokenizer
    seen = []

    def spy(name, **kwargs):
        seen.append(hub_constants.HF_HUB_OFFLINE)
        return real(name, **kwargs)

    monkeypatch.setattr(open_clip, "get_tokenizer", spy)
    before = hub_constants.HF_HUB_OFFLINE
    with pytest.raises(ModelUnavailableError) as info:
        create_encoder("ViT-B-16-SigLIP2-256", "none", device="cpu", cache_dir=tmp_path)
    assert seen == [True] and hub_constants.HF_HUB_OFFLINE == before
    assert "timm/ViT-B-16-SigLIP2-256" in str(info.value) and "hf download" in str(info.value)
    # a model with open_clip's own tokenizer never asks the hub
    monkeypatch.setattr(encoder_module, "_hub_unreachable", lambda: pytest.fail("asked the hub"))
    seen.clear()
    create_encoder(TINY_CLIP, None, device="cpu")
    assert seen == [before]


def _cpu_batches_of_two(encoder):
    import copy

    two = copy.copy(encoder)  # shares the model and its workers
    two.batch_size = 2
    return two


def test_cpu_batches_run_on_one_thread_workers_in_order_while_the_caller_goes_on(tiny_encoder):
    # On a CPU each batch runs whole on an encoder worker with one intra-op thread, while the
    # thread iterating goes on producing images: the first batch only finishes once the
    # producer has been asked for the second batch's first image (a model on the caller's
    # thread would wait here for ever).
    import threading

    encoder = _cpu_batches_of_two(tiny_encoder)
    assert encoder.frees_the_caller and encoder.workers == torch.get_num_threads()
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 255, (96, 128, 3), dtype=np.uint8) for _ in range(7)]
    second_batch_asked = threading.Event()
    seen: list[tuple[str, int, bool]] = []
    image_batch = encoder._image_batch

    def watched(pixels):
        first = not seen
        seen.append((threading.current_thread().name, torch.get_num_threads(), first))
        if first:
            assert second_batch_asked.wait(timeout=30), "the caller waited for the model"
        return image_batch(pixels)

    def produce():
        for k, frame in enumerate(frames):
            if k == encoder.batch_size:
                second_batch_asked.set()
            yield frame

    encoder._image_batch = watched
    threads_here = torch.get_num_threads()
    batches = list(encoder.iter_image_batches(produce()))
    assert [len(b) for b in batches] == [2, 2, 2, 1]
    assert all(name.startswith("shotseek-encoder") and n == 1 for name, n, _ in seen), seen
    assert torch.get_num_threads() == threads_here  # the caller's own setting is untouched
    one_by_one = np.concatenate([tiny_encoder.encode_images([f]) for f in frames])
    np.testing.assert_allclose(np.concatenate(batches), one_by_one, atol=1e-5)


def test_cpu_batches_stop_with_a_failing_producer_or_a_consumer_that_stops(tiny_encoder):
    # A producer that fails (a corrupt video) raises to the consumer once the batches before
    # are out, and no batch is left running on the workers; so does a consumer that stops.
    import threading

    encoder = _cpu_batches_of_two(tiny_encoder)
    running, ran = [0], [0]
    lock = threading.Lock()
    image_batch = encoder._image_batch

    def counted(pixels):
        with lock:
            running[0] += 1
        try:
            return image_batch(pixels)
        finally:
            with lock:
                running[0] -= 1
                ran[0] += 1

    encoder._image_batch = counted
    frame = np.zeros((64, 64, 3), np.uint8)

    def broken():
        yield from [frame] * 5
        raise RuntimeError("corrupt at 00:00:02.500")

    got = []
    with pytest.raises(RuntimeError, match="corrupt"):
        for batch in encoder.iter_image_batches(broken()):
            got.append(batch)
    assert running[0] == 0 and len(got) <= 2

    def endless():
        while True:
            yield frame

    ran[0] = 0
    stream = encoder.iter_image_batches(endless())
    next(stream)
    stream.close()
    assert running[0] == 0 and ran[0] <= encoder.workers + 2
