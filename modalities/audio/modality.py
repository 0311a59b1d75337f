"""The audio modality adapter: clips ⇄ normalised log-mel images (1, n_mels, frames) for the shared U-Net
(default) or raw waveforms (1, L) for a DiffWave-style network; WAV + spectrogram-sheet output;
SC09-style classifier metrics."""

from __future__ import annotations

from pfgm.core.errors import ConfigError, DataError
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..base import Encoded, EncodedDataset, Evaluation, Modality, register_modality
from ..shared.labels import blank_labels, label_index
from ..shared.records import LoadReport
from .data import (
    DEFAULT_PITCHES,
    DEFAULT_SPEEDS,
    DEFAULT_VOICES,
    DIGIT_WORDS,
    TONE_NOTES,
    LONG_FILE_POLICIES,
    Clips,
    fixed_length,
    load_sc09,
    load_wav_folder,
    make_tones,
    split_indices,
    synth_digits,
)
from .features import MelCodec, WaveCodec
from .writers import AudioClip, write_audio

DATASETS = ("speech_digits", "tones", "folder", "sc09")
REPRESENTATIONS = ("mel", "wave")


@dataclass(frozen=True)
class AudioOptions:
    """The options of the ``audio`` modality (the recipe's ``modality:`` block), and their rules (:meth:`check`)."""

    dataset: str = "speech_digits"
    """"speech_digits" (espeak-ng's spoken digits, offline), "tones" (procedural, needs nothing), "folder"
    (``root``: .wav/.flac files, class subfolders optional) or "sc09" (SpeechCommands digits under ``root``)."""
    root: str | os.PathLike | None = None
    """folder: the folder of clips; sc09: the SpeechCommands folder."""
    download: bool = False
    """sc09: fetch it once into ``root``."""
    representation: str = "mel"
    """"mel" (log-mel for the U-Net; back to audio by Griffin-Lim) or "wave" (raw samples for DiffWave)."""
    sample_rate: int = 8000
    """Samples per second (clips are resampled to it)."""
    n_fft: int = 512
    """The mel spectrogram's FFT size."""
    hop_length: int = 192
    """The mel spectrogram's hop, in samples."""
    n_mels: int = 32
    """Mel bands (the height of the U-Net's image)."""
    frames: int = 32
    """Mel frames (its width); a longer clip's mel keeps the first ``frames`` frames."""
    duration: float | None = None
    """The clip length in seconds for both representations (unset: (frames − 1)·hop_length samples)."""
    f_min: float = 20.0
    """The lowest mel frequency, Hz."""
    f_max: float | None = None
    """The highest mel frequency, Hz (unset: sample_rate / 2)."""
    top_db: float = 70.0
    """The mel's dynamic range below ``ref_db``."""
    ref_db: float | None = None
    """The loudest training bin in dB (mapped to +1); measured from the data and pinned by ``config()``."""
    griffin_lim_iters: int = 32
    """Phase-recovery iterations when decoding a mel (also a sample-time option)."""
    loudness_dbfs: float = -20.0
    """Every clip is silence-trimmed (not SC09) and RMS-normalised to this loudness."""
    noise_dbfs: float | None = -50.0
    """White noise added to every fitted clip at this level (unset: none), so that silence has one floor."""
    align: str = "center"
    """Where a clip sits when padded/trimmed to the clip length (centred by default)."""
    voices: Sequence[str] = DEFAULT_VOICES
    """speech_digits: espeak-ng's voices (all combinations of voices, pitches and speeds × the ten words)."""
    pitches: Sequence[int] = DEFAULT_PITCHES
    """speech_digits: espeak-ng's pitches (-p)."""
    speeds: Sequence[int] = DEFAULT_SPEEDS
    """speech_digits: espeak-ng's speeds (-s, words per minute)."""
    num_tones: int = 2000
    """tones: how many tones to make."""
    class_cond: bool = False
    """Condition on the label (digit, note, subfolder)."""
    label: int | str | None = None
    """Sample-time, class_cond: sample this class (an index or a name) instead of drawn labels."""
    mono: str = "mix"
    """Stereo input is "mix"ed down, or its "first" channel taken, or refused ("error")."""
    skip_non_audio: bool = False
    """folder: ignore non-audio files instead of raising (counted in the load report)."""
    long_files: str = "cut"
    """folder: a file more than twice the clip length is "cut" into consecutive clips, or refused ("error");
    never fitted to one clip."""
    min_duration: float = 0.05
    """folder: clips shorter than this many seconds (after silence trimming) are skipped, counted in the load report."""
    test_fraction: float = 0.15
    """The held-out share, in [0, 1) (SC09 uses its own lists)."""
    seed: int = 0
    """Seeds the split and the noise floor."""
    classes: Sequence[str] | None = None
    """The class names, pinned by ``config()``."""
    judge_metrics: bool = True
    """pfgm-eval adds the outside judge's scores for spoken digits (:mod:`.judge`)."""

    def check(self) -> None:
        """Raise a ConfigError naming the first option whose value is refused (the sample-time values that need
        the trained model, label and griffin_lim_iters, by ``AudioModality.check_sample_options``)."""
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown audio data set {self.dataset!r}; expected one of {', '.join(DATASETS)}")
        if self.representation not in REPRESENTATIONS:
            raise ConfigError(f"representation must be one of {', '.join(REPRESENTATIONS)}, got {self.representation!r}")
        if self.dataset in ("folder", "sc09") and self.root is None:
            raise ConfigError(
                f"dataset={self.dataset!r} needs modality.root (the folder of "
                f"{'clips' if self.dataset == 'folder' else 'SpeechCommands'})"
            )
        if not 0.0 <= float(self.test_fraction) < 1.0:
            raise ConfigError(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        if self.long_files not in LONG_FILE_POLICIES:
            raise ConfigError(f"modality.long_files must be one of {', '.join(LONG_FILE_POLICIES)}, got {self.long_files!r}")
        if not float(self.min_duration) >= 0.0:
            raise ConfigError(f"modality.min_duration must be a number of seconds >= 0, got {self.min_duration!r}")


@register_modality("audio")
class AudioModality(Modality):
    """Fixed-duration mono clips. Objects are :class:`~modalities.audio.writers.AudioClip` (float32 wave, rate, label).

    Options: :class:`AudioOptions`. Every clip is silence-trimmed (not SC09), RMS-normalised to
    ``loudness_dbfs``, padded/trimmed to the clip length and given white noise at ``noise_dbfs``.
    The padding mask from fitting clips to length is not given to the core: silence is part of a
    clip, and the model must generate it (the length is not known at sample time).
    """

    Options = AudioOptions
    SAMPLE_OPTIONS = ("label", "griffin_lim_iters", "judge_metrics")
    #: what ``write`` takes: a folder (""), one joined .wav, or the .png sheet; pfgm-sample checks it before sampling
    OUT_FORMATS = ("", ".wav", ".png")

    def __init__(self, **options: Any):
        o: AudioOptions = self.parse_options(options)
        self.options = o
        self.dataset_name, self.representation = o.dataset, o.representation
        self.root = None if o.root is None else Path(o.root).expanduser()
        self.download = bool(o.download)
        rate = int(o.sample_rate)
        self.mel = MelCodec(rate, int(o.n_fft), int(o.hop_length), int(o.n_mels), int(o.frames), float(o.f_min),
                            None if o.f_max is None else float(o.f_max), float(o.top_db), 0.0 if o.ref_db is None else float(o.ref_db),
                            int(o.griffin_lim_iters), clip_samples=None if o.duration is None else int(round(float(o.duration) * rate)))  # fmt: skip
        self._ref_db_pinned = o.ref_db is not None
        self.loudness_dbfs = float(o.loudness_dbfs)
        self.noise_dbfs = None if o.noise_dbfs is None else float(o.noise_dbfs)
        self.align = str(o.align)
        self.voices, self.pitches, self.speeds = list(o.voices), [int(p) for p in o.pitches], [int(s) for s in o.speeds]
        self.num_tones = int(o.num_tones)
        self.class_cond = bool(o.class_cond)
        self.mono, self.skip_non_audio = str(o.mono), bool(o.skip_non_audio)
        self.long_files, self.min_duration = str(o.long_files), float(o.min_duration)
        self.report: LoadReport | None = None  # a folder's load report, once read
        self.test_fraction, self.seed = float(o.test_fraction), int(o.seed)
        self._classes: list[str] | None = list(o.classes) if o.classes is not None else None
        if o.dataset in ("speech_digits", "sc09"):
            self._classes = list(DIGIT_WORDS)
        elif o.dataset == "tones" and self._classes is None:
            self._classes = make_tones(0).classes
        self.label = o.label
        self.griffin_lim_iters = int(o.griffin_lim_iters)
        self.judge_metrics = bool(o.judge_metrics)
        self._clips: dict[str, Clips] = {}
        self._waves: dict[str, tuple[Tensor, Tensor | None]] = {}

    # ------------------------------------------------------------------------------------------
    # data

    @property
    def sample_rate(self) -> int:
        return self.mel.sample_rate

    @property
    def num_samples(self) -> int:
        return self.mel.num_samples

    @property
    def codec(self) -> MelCodec | WaveCodec:
        self.mel.griffin_lim_iters = int(self.griffin_lim_iters)  # a sample-time option may have changed it
        if self.representation == "mel":
            return self.mel
        return WaveCodec(self.sample_rate, self.num_samples)

    def _all_clips(self) -> Clips:
        """Every clip of the source (speech_digits, tones, folder): read once, lazily (sampling never calls it)."""
        if "all" not in self._clips:
            rate = self.sample_rate
            if self.dataset_name == "speech_digits":
                c = synth_digits(self.voices, self.pitches, self.speeds, rate, self.loudness_dbfs, verbose=True)
            elif self.dataset_name == "tones":
                c = make_tones(self.num_tones, rate, self.seed)
            else:
                assert self.root is not None
                c = load_wav_folder(
                    self.root,
                    rate,
                    self.mono,
                    self.skip_non_audio,
                    self.loudness_dbfs,
                    clip_samples=self.num_samples,
                    long_files=self.long_files,
                    min_duration=self.min_duration,
                )
                self.report = c.report
                if self.class_cond and c.labels is None:
                    raise DataError(f"{self.root}: class_cond needs class subfolders (one folder of clips per class)")
                if self._classes is not None and c.classes and c.classes != self._classes:
                    raise DataError(f"{self.root}: class folders {c.classes} differ from the configured classes {self._classes}")
                self._classes = c.classes
            self._clips["all"] = c
        return self._clips["all"]

    def clips(self, split: str = "train") -> Clips:
        """The clips of one split ("train" | "test"), variable length, before fitting to the clip length."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if split not in self._clips:
            if self.dataset_name == "sc09":
                assert self.root is not None
                self._clips[split] = load_sc09(
                    self.root, "training" if split == "train" else "testing", self.sample_rate, self.download
                )
            else:
                c = self._all_clips()
                try:
                    idx = split_indices(len(c), split, self.test_fraction, self.seed).tolist()
                except ValueError as e:  # the split took every clip: name the data set
                    raise DataError(f"{self.root or self.dataset_name}: {e}") from None
                labels = None if c.labels is None else c.labels[idx]
                self._clips[split] = Clips([c.waves[i] for i in idx], c.sample_rate, labels, c.classes)
        return self._clips[split]

    def waves(self, split: str = "train") -> tuple[Tensor, Tensor | None]:
        """Fixed-length waves (M, num_samples) with the noise floor added, and labels (M,) or None."""
        if split not in self._waves:
            c = self.clips(split)
            # a different noise seed per split: the test clips' noise is not the training clips'
            w, _ = fixed_length(c, self.num_samples, self.align, self.noise_dbfs, seed=self.seed * 2 + (split == "test"))
            self._waves[split] = (w, c.labels)
        return self._waves[split]

    @property
    def ref_db(self) -> float:
        """The loudest mel bin of the training clips, in dB (rounded up to 0.1 dB); pinned once measured."""
        if not self._ref_db_pinned:
            w, _ = self.waves("train")
            top = max(float(self.mel.mel_db(chunk).max()) for chunk in w.split(512))
            self.mel.ref_db = float(np.ceil(top * 10) / 10)
            self._ref_db_pinned = True
        return self.mel.ref_db

    @property
    def classes(self) -> list[str]:
        if self._classes is None:
            self._all_clips()
        return list(self._classes or [])

    @property  # type: ignore[override]
    def num_classes(self) -> int:
        if not self.class_cond:
            return 0
        if not self.classes:
            raise DataError(f"{self.root}: class_cond needs class subfolders (one folder of clips per class)")
        return len(self.classes)

    def encode_waves(self, waves: Tensor) -> Tensor:
        """(M, num_samples) → the model's x: (M, 1, n_mels, frames) or (M, 1, num_samples)."""
        _ = self.ref_db
        return torch.cat([self.codec.encode(c) for c in waves.split(512)]) if len(waves) else torch.zeros(0, *self.codec.shape)

    def dataset(self, split: str = "train") -> EncodedDataset:
        """Encoded split: x (M, 1, n_mels, frames) or (M, 1, L); mask None; cond labels if class_cond."""
        w, labels = self.waves(split)
        return EncodedDataset(self.encode_waves(w), None, labels if self.class_cond else None)

    def config(self) -> dict[str, Any]:
        """Every option with the data-derived ones (ref_db, classes) filled in; plain types."""
        m = self.mel
        opts: dict[str, Any] = dict(
            dataset=self.dataset_name, representation=self.representation, sample_rate=m.sample_rate,
            n_fft=m.n_fft, hop_length=m.hop_length, n_mels=m.n_mels, frames=m.frames, f_min=m.f_min, f_max=m.f_max,
            top_db=m.top_db, ref_db=self.ref_db, **({"duration": m.clip_samples / m.sample_rate} if m.clip_samples is not None else {}), griffin_lim_iters=int(self.griffin_lim_iters),
            loudness_dbfs=self.loudness_dbfs, noise_dbfs=self.noise_dbfs, align=self.align,
            class_cond=self.class_cond, test_fraction=self.test_fraction, seed=self.seed, classes=self.classes,
        )  # fmt: skip
        if self.dataset_name == "speech_digits":
            opts.update(voices=list(self.voices), pitches=list(self.pitches), speeds=list(self.speeds))
        elif self.dataset_name == "tones":
            opts["num_tones"] = self.num_tones
        else:
            opts.update(root=str(self.root), mono=self.mono)
            if self.dataset_name == "folder":
                opts["skip_non_audio"] = self.skip_non_audio
                # only when set otherwise: a run from before these options resumes without a config change
                if self.long_files != "cut":
                    opts["long_files"] = self.long_files
                if self.min_duration != 0.05:
                    opts["min_duration"] = self.min_duration
            else:
                opts["download"] = self.download
        return opts

    # ------------------------------------------------------------------------------------------
    # model and sampling

    def backbone(self, **kwargs: Any) -> nn.Module:
        """mel: the shared U-Net on (1, n_mels, frames); wave: :class:`~modalities.audio.backbone.DiffWave`."""
        derived = {"in_channels": 1, "num_classes": self.num_classes}
        if self.representation == "mel":
            derived["image_size"] = [self.mel.n_mels, self.mel.frames]
        for key, value in derived.items():
            if (
                key in kwargs
                and kwargs[key] is not None
                and kwargs[key] != value
                and list(np.atleast_1d(kwargs[key])) != list(np.atleast_1d(value))
            ):
                raise ConfigError(f"backbone.{key}={kwargs[key]} contradicts the data ({key}={value}); leave it unset")
            kwargs[key] = value
        if self.representation == "mel":
            from ..shared.unet import UNet

            return UNet(**kwargs)
        from .backbone import DiffWave

        return DiffWave(**kwargs)

    def _label_index(self) -> int | None:
        return label_index(self.label, self.class_cond, self.classes if self.class_cond else ())

    def check_sample_options(self) -> None:
        self._label_index()
        if int(self.griffin_lim_iters) < 1:
            raise ConfigError(f"modality.griffin_lim_iters must be >= 1, got {self.griffin_lim_iters}")

    def blank(self, num: int, generator: torch.Generator) -> Encoded:
        """``num`` zero clips of the model's shape; with class_cond, labels: ``label`` if set, else drawn uniformly
        (drawn either way, so sample i's noise does not depend on it)."""
        dev = generator.device
        shape = (1, self.mel.n_mels, self.mel.frames) if self.representation == "mel" else (1, self.num_samples)
        cond = None
        if self.class_cond:
            cond = blank_labels(num, self.num_classes, self._label_index(), generator)
        return Encoded(torch.zeros((num, *shape), device=dev), None, cond)

    def decode(self, x: Tensor, mask: Tensor | None = None, cond: Tensor | None = None) -> list[AudioClip]:
        """x → clips. Mel: InverseMelScale + Griffin-Lim (seeded: the same x always gives the same wave)."""
        del mask
        _ = self.ref_db
        waves = self.codec.decode(x.detach().float().cpu(), generator=torch.Generator().manual_seed(0))
        labels = [None] * len(waves) if cond is None else [int(c) if int(c) >= 0 else None for c in cond.reshape(-1).tolist()]
        names = self.classes
        return [
            AudioClip(
                w.numpy().astype(np.float32).clip(-1, 1),
                self.sample_rate,
                lab,
                names[lab] if lab is not None and lab < len(names) else None,
            )
            for w, lab in zip(waves, labels)
        ]

    def spectrogram(self, wave: np.ndarray) -> np.ndarray:
        """A (L,) wave → its mel spectrogram in dB (n_mels, frames), for the PNG sheet."""
        return self.mel.mel_db(torch.as_tensor(np.asarray(wave, np.float32))[None])[0].numpy()

    def write(self, objects: Sequence[Any], out: Path) -> list[Path]:
        """Folder → one 16-bit WAV per clip + spectrograms.png; ``x.wav`` → all clips in one file; ``x.png`` → the sheet."""
        return write_audio(objects, Path(out), self.spectrogram)

    # ------------------------------------------------------------------------------------------
    # metrics

    def _mels(self, waves: Tensor) -> Tensor:
        """Waves (M, L) → the classifier's input: normalised log-mel (M, 1, n_mels, frames)."""
        _ = self.ref_db
        return torch.cat([self.mel.encode(c) for c in waves.split(512)]) if len(waves) else torch.zeros(0, *self.mel.shape)

    def classifier(self, verbose: bool = False):
        """The cached clip classifier for this data configuration and its info (test accuracy...)."""
        from .metrics import load_classifier

        cfg = self.config()
        key = {k: cfg[k] for k in cfg if k not in ("griffin_lim_iters", "class_cond", "representation")}

        def data() -> tuple[Tensor, Tensor, Tensor, Tensor]:
            (w, y), (wt, yt) = self.waves("train"), self.waves("test")
            assert y is not None and yt is not None
            return self._mels(w), y, self._mels(wt), yt

        return load_classifier(key, len(self.classes), data, verbose=verbose)

    def codec_round_trip(self, waves: Tensor) -> Tensor:
        """Waves (M, L) → the same clips through the model's representation and back (mel → Griffin-Lim)."""
        return torch.cat(
            [self.codec.decode(self.encode_waves(c), generator=torch.Generator().manual_seed(0)) for c in waves.split(256)]
        )

    def judge_data(self) -> tuple[Tensor, Tensor, Tensor]:
        """The outside judge's clips: (waves (M, L), labels (M,), template index (80,)). speech_digits: espeak-ng
        voices, pitches and speeds the model never hears (:data:`~.judge.JUDGE_VOICES`); sc09: its validation
        list. Templates: one clip per voice (or the first eight per digit) and digit."""
        from .judge import JUDGE_PITCHES, JUDGE_SPEEDS, JUDGE_VOICES

        if self.dataset_name == "speech_digits":
            c = synth_digits(JUDGE_VOICES, JUDGE_PITCHES, JUDGE_SPEEDS, self.sample_rate, self.loudness_dbfs, verbose=True)
            per_voice = len(JUDGE_PITCHES) * len(JUDGE_SPEEDS) * len(DIGIT_WORDS)
            # the middle pitch at the slower speed of every voice, all ten digits
            start = (len(JUDGE_PITCHES) // 2) * len(JUDGE_SPEEDS) * len(DIGIT_WORDS)
            templates = [v * per_voice + start + d for v in range(len(JUDGE_VOICES)) for d in range(len(DIGIT_WORDS))]
        elif self.dataset_name == "sc09":
            assert self.root is not None
            c = load_sc09(self.root, "validation", self.sample_rate, self.download)
            assert c.labels is not None
            templates = [i for d in range(len(DIGIT_WORDS)) for i in torch.nonzero(c.labels == d).flatten()[:8].tolist()]
        else:
            raise ConfigError(f"the outside judge knows spoken digits (speech_digits, sc09), not dataset={self.dataset_name!r}")
        w, _ = fixed_length(c, self.num_samples, self.align, self.noise_dbfs, seed=self.seed * 2 + 7)
        assert c.labels is not None
        return w, c.labels, torch.tensor(templates)

    def judge(self, verbose: bool = False):
        """(judge, info, templates (T, L), template labels (T,)): the cached outside digit judge for this data
        and codec, trained on :meth:`judge_data` as they are and through :meth:`codec_round_trip`."""
        from ..shared.cached_model import cached_model
        from .judge import JUDGE_VERSION, DigitJudge, train_judge

        cfg = self.config()
        key = {k: cfg[k] for k in cfg if k not in ("class_cond", "classes", "voices", "pitches", "speeds")}
        key["version"] = JUDGE_VERSION
        state: dict[str, Tensor] = {}

        def data() -> tuple[Tensor, Tensor, Tensor]:
            if not state:
                state["w"], state["y"], state["t"] = self.judge_data()
                state["wc"] = self.codec_round_trip(state["w"])
            return state["w"], state["y"], state["wc"]

        def train(model: nn.Module) -> dict:
            w, y, wc = data()
            info = train_judge(model, torch.cat([w, wc]), torch.cat([y, y]), self.sample_rate)  # type: ignore[arg-type]
            (wt, yt) = self.waves("test")
            from ..shared.scorer import accuracy

            info["heldout_accuracy"] = accuracy(model, wt, yt, batch_size=128)  # voices the judge never heard
            info["heldout_codec_accuracy"] = accuracy(model, self.codec_round_trip(wt), yt, batch_size=128)
            return info

        model, info = cached_model(
            "audio_judge", key, lambda: DigitJudge(self.sample_rate, len(self.classes)), train, verbose=verbose
        )
        if not state:  # a cached judge: only the templates need the codec round trip
            state["w"], state["y"], state["t"] = self.judge_data()
        t = state["t"]
        templates = state["wc"][t] if "wc" in state else self.codec_round_trip(state["w"][t])
        return model, info, templates, state["y"][t]

    def judge_report(self, clips: Sequence[Any], verbose: bool = False) -> tuple[dict[str, dict], dict]:
        """The outside judge's scores (:func:`~.judge.judge_report`) of ``clips`` beside held-out real clips
        through the codec (ceiling), as they are, noise bursts and reversed speech (floors); and the judge's info."""
        from .judge import judge_report

        judge, info, templates, t_labels = self.judge(verbose=verbose)
        w_train, _ = self.waves("train")
        w_test, y_test = self.waves("test")
        with torch.no_grad():
            ref = torch.cat([judge.features(c) for c in w_train.split(256)]).double().numpy()
        gen = (
            torch.from_numpy(np.stack([np.asarray(c.wave, np.float32) for c in clips]))
            if clips
            else torch.zeros(0, self.num_samples)
        )
        requested = (
            torch.tensor([-1 if c.label is None else c.label for c in clips], dtype=torch.long) if self.class_cond else None
        )
        n = min(max(len(clips), 2), len(w_test))
        report = judge_report(judge, gen, w_test[:n], self.codec_round_trip(w_test[:n]), ref, templates, t_labels,
                              requested, y_test[:n] if y_test is not None else None)  # fmt: skip
        return report, info

    def check_evaluate(self) -> None:
        """speech_digits' metrics compare with the spoken digits, rebuilt with espeak-ng: it must be installed."""
        if self.dataset_name != "speech_digits":
            return
        from .data import EspeakMissingError, espeak_binary

        try:
            espeak_binary()
        except EspeakMissingError:
            raise EspeakMissingError(
                "espeak-ng is not installed; evaluating a speech_digits model needs it (the metrics compare with the "
                "digits it speaks): install the espeak-ng package (sudo apt-get install espeak-ng on Debian/Ubuntu), "
                "or use pfgm-sample, which does not need it"
            ) from None

    def evaluate(self, objects: Sequence[Any], samples: Encoded | None = None) -> Evaluation:
        """SC09-style scores (see :mod:`.metrics`): fid, is, mis, am, max_softmax with real_* beside them,
        classifier_accuracy, spectral_distance (+ _real), and for tones pitch_in_tune / pitch_accuracy."""
        from .metrics import classifier_metrics, pitch_accuracy, spectral_distance

        del samples
        clips = [o for o in objects if o is not None]
        notes: list[str] = []
        metrics: dict[str, float] = {"invalid_fraction": 1.0 - len(clips) / max(len(objects), 1)}
        w_train, y_train = self.waves("train")
        w_test, y_test = self.waves("test")
        gen = (
            torch.from_numpy(np.stack([np.asarray(c.wave, np.float32) for c in clips]))
            if clips
            else torch.zeros(0, self.num_samples)
        )
        if gen.shape[1:] != (self.num_samples,):
            raise ValueError(f"audio metrics need clips of {self.num_samples} samples, got {tuple(gen.shape[1:])}")
        m_gen, m_train, m_test = self._mels(gen), self._mels(w_train), self._mels(w_test)
        if len(clips):
            db = lambda m: self.mel.to_power(m).clamp_min(1e-10).log10() * 10  # noqa: E731
            metrics["spectral_distance"] = spectral_distance(db(m_gen), db(m_train))
            metrics["spectral_distance_real"] = spectral_distance(db(m_test[: max(len(clips), 2)]), db(m_train))
        if y_train is not None and self.classes:
            model, info = self.classifier(verbose=True)
            metrics["classifier_accuracy"] = float(info["test_accuracy"])
            labels = torch.tensor([-1 if c.label is None else c.label for c in clips], dtype=torch.long)
            metrics.update(classifier_metrics(model, m_gen, m_train, m_test, labels if self.class_cond else None))
            n_real = min(max(len(clips), 2), len(m_test))
            notes.append(
                f"classifier: held-out accuracy {info['test_accuracy']:.3f} on {info.get('num_test', '?')} clips; "
                f"real_* scores use {n_real} held-out real clips (IS ceiling {metrics['real_is']:.2f}, FID floor {metrics['fid_real']:.2f})"
            )
        else:
            notes.append(
                "no labels: classifier scores (FID, IS, AM) need class subfolders; only the spectral distance is reported"
            )
        if self.dataset_name in ("speech_digits", "sc09") and self.judge_metrics:
            report, info = self.judge_report(clips, verbose=True)
            for group, scores in report.items():
                prefix = "judge_" if group == "samples" else f"judge_{group}_"
                metrics.update({prefix + k: float(v) for k, v in scores.items() if not isinstance(v, list)})
                notes.append(f"judge histogram ({group}): {scores['histogram']}; templates: {scores['template_histogram']}")
            notes.append(
                f"outside judge (MFCC CNN + DTW templates, voices the model never hears): held-out accuracy "
                f"{info['heldout_accuracy']:.3f} as they are, {info['heldout_codec_accuracy']:.3f} through the codec; "
                "judge_real_codec_* is the ceiling, judge_noise_* and judge_reversed_* the floors"
            )
        if self.dataset_name == "tones":
            metrics.update(pitch_accuracy([c.wave for c in clips], self.sample_rate, list(TONE_NOTES), [c.label for c in clips]))
        return Evaluation(metrics, notes)
