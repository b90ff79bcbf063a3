"""Train the miniature world from scratch: ``python -m itslib train-mini --out DIR``.

Four stages, in order, each resumable from its checkpoint in ``DIR/<stage>/`` and
skipped once ``DIR/<stage>/done.json`` exists:

1. ``autoencoder``: the shared AutoencoderKL on pictures and spectrogram pictures;
2. ``image``: the image expert (class-conditional UNet) on picture latents;
3. ``audio``: the audio expert, initialised from the image expert, on spectrogram latents;
4. ``judges``: the picture judge and the listening sound judge.

Everything is drawn from ``--seed``: datasets from ``numpy`` generators seeded by
(seed, purpose), and each training step from a torch generator seeded by (seed,
stage, step), so a resumed run is the run that was never interrupted. Losses go to
``DIR/log.jsonl``; at the end the weights are exported to ``DIR/weights`` (or where
``--weights`` says; the package's own folder only when named; see
:mod:`itslib.mini.store`).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from itslib._io import atomic_path, check_output_folder, ensure_writable_folder
from itslib.checks import number, whole
from itslib.mini import datasets as ds
from itslib.mini.models import DOWNSAMPLE, Judge, build_scheduler, build_unet, build_vae
from itslib.mini.store import export
from itslib.mini.world import NULL_CLASS, PICTURE_CLASSES

STAGES = ("autoencoder", "image", "audio", "judges")


@dataclass(frozen=True)
class Plan:
    """Step counts, batch sizes and dataset sizes of one training run."""

    n_pictures: int = 8000
    n_sounds: int = 6000
    n_heard: int = 400
    n_test: int = 400
    n_test_heard: int = 160
    ae_steps: int = 600
    ae_batch: int = 32
    ae_crop_rows: int = 64
    ae_crop_cols: int = 128
    ae_bright_weight: float = 4.0
    image_steps: int = 10000
    audio_steps: int = 3000
    min_snr_gamma: float = 5.0
    offset_noise: float = 0.1
    unet_batch: int = 32
    judge_steps: int = 600
    judge_batch: int = 32
    save_every: int = 50
    log_every: int = 10


QUICK = Plan(
    n_pictures=16, n_sounds=16, n_heard=4, n_test=8, n_test_heard=4, ae_steps=2, ae_batch=4,
    image_steps=2, audio_steps=2, unet_batch=4, judge_steps=2, judge_batch=4, save_every=1,
    log_every=1,
)  # fmt: skip


def step_generator(seed: int, stage: str, step: int) -> torch.Generator:
    """The torch generator for one training step: a function of (seed, stage, step) only."""
    key = (seed * 1_000_003 + (STAGES.index(stage) + 1) * 7_919_111 + step) % (2**63)
    return torch.Generator().manual_seed(key)


class Trainer:
    """Runs the stages of one training run in ``out``."""

    def __init__(self, out: Path, seed: int, plan: Plan) -> None:
        self.out, self.seed, self.plan = Path(out), seed, plan
        self.out.mkdir(parents=True, exist_ok=True)
        self.data = ds.DataCache(self.out / "data", seed, plan)

    # ------------------------------------------------------------------ helpers
    def log(self, stage: str, step: int, **values: float) -> None:
        """Append one line to ``log.jsonl``."""
        record = {"stage": stage, "step": step, "time": round(time.time(), 2)}
        record.update({k: round(float(v), 6) for k, v in values.items()})
        with open(self.out / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def done(self, stage: str) -> dict | None:
        """The stage's summary if it has finished, else None."""
        path = self.out / stage / "done.json"
        return json.loads(path.read_text()) if path.exists() else None

    def _finish(self, stage: str, summary: dict) -> dict:
        with atomic_path(self.out / stage / "done.json") as tmp:
            tmp.write_text(json.dumps(summary, indent=2))
        return summary

    def _loop(
        self,
        stage: str,
        modules: dict[str, torch.nn.Module],
        optimizer: torch.optim.Optimizer,
        steps: int,
        lr: float,
        step_fn: Callable[[int, torch.Generator], dict[str, float]],
        ema: dict[str, torch.Tensor] | None = None,
        ema_of: torch.nn.Module | None = None,
    ) -> dict:
        """Generic resumable loop: warm-up + cosine learning rate, EMA, checkpoints, log."""
        folder = self.out / stage
        folder.mkdir(parents=True, exist_ok=True)
        ckpt_path = folder / "checkpoint.pt"
        start, seconds = 0, 0.0
        if ckpt_path.exists():
            ckpt = torch.load(ckpt_path, weights_only=True)
            for name, module in modules.items():
                module.load_state_dict(ckpt["modules"][name])
            optimizer.load_state_dict(ckpt["optimizer"])
            if ema is not None:
                ema.update(ckpt["ema"])
            start, seconds = ckpt["step"], ckpt["seconds"]
        warmup = max(1, min(200, steps // 10))
        recent: dict[str, list[float]] = {}
        bar = tqdm(range(start, steps), desc=stage, initial=start, total=steps, dynamic_ncols=True)
        for step in bar:
            tic = time.time()
            scale = min(1.0, (step + 1) / warmup) * (0.55 + 0.45 * math.cos(math.pi * step / steps))
            for group in optimizer.param_groups:
                group["lr"] = lr * scale
            for module in modules.values():
                module.train()
            losses = step_fn(step, step_generator(self.seed, stage, step))
            if ema is not None and ema_of is not None:
                decay = min(0.999, (1 + step) / (10 + step))
                with torch.no_grad():
                    for name, value in ema_of.state_dict().items():
                        if value.dtype.is_floating_point:
                            ema[name].mul_(decay).add_(value, alpha=1 - decay)
                        else:
                            ema[name].copy_(value)
            seconds += time.time() - tic
            for k, v in losses.items():
                recent.setdefault(k, []).append(v)
            if (step + 1) % self.plan.log_every == 0 or step + 1 == steps:
                means = {k: float(np.mean(v)) for k, v in recent.items()}
                self.log(stage, step + 1, lr=lr * scale, **means)
                bar.set_postfix({k: f"{v:.4f}" for k, v in means.items()})
                last = means
                recent = {}
            if (step + 1) % self.plan.save_every == 0 or step + 1 == steps:
                state = {
                    "modules": {n: m.state_dict() for n, m in modules.items()},
                    "optimizer": optimizer.state_dict(),
                    "ema": ema or {},
                    "step": step + 1,
                    "seconds": seconds,
                }
                with atomic_path(ckpt_path) as tmp:
                    torch.save(state, tmp)
        if start >= steps:  # finished before the interruption, done.json was not written
            last = {}
        return {
            "steps": steps,
            "seconds": round(seconds, 1),
            "seconds_per_step": round(seconds / max(1, steps), 3),
            "final_losses": last,
        }

    # ------------------------------------------------------------------ stages
    def autoencoder(self) -> dict:
        """Train the shared autoencoder on pictures and spectrogram pictures, half and half."""
        p = self.plan
        pictures, _ = self.data.pictures()
        sounds, _ = self.data.sounds()
        torch.manual_seed(self.seed)
        vae = build_vae()
        optimizer = torch.optim.AdamW(vae.parameters(), lr=2e-3, weight_decay=0.0)
        k = DOWNSAMPLE

        def step_fn(step: int, g: torch.Generator) -> dict[str, float]:
            half = p.ae_batch // 2
            x = torch.cat(
                [ds.sample_rows(pictures, half, g), ds.sample_rows(sounds, p.ae_batch - half, g)]
            )[:, None]
            # fully convolutional: train on crops, placed on the latent grid
            rows, cols = (x.shape[-2] - p.ae_crop_rows) // k, (x.shape[-1] - p.ae_crop_cols) // k
            top = k * int(torch.randint(0, rows + 1, (), generator=g))
            left = k * int(torch.randint(0, cols + 1, (), generator=g))
            x = x[..., top : top + p.ae_crop_rows, left : left + p.ae_crop_cols] * 2 - 1
            posterior = vae.encode(x).latent_dist
            z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=g)
            recon = vae.decode(z).sample
            # errors weigh more where the target is bright: thin bright partial lines are
            # few pixels, but they are what a bell or a chord sounds like
            weight = 1 + p.ae_bright_weight * (x + 1) / 2
            l1 = ((recon - x).abs() * weight).mean()
            mse = ((recon - x) ** 2 * weight).mean()
            kl = posterior.kl().mean()
            loss = l1 + mse + 1e-6 * kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
            optimizer.step()
            return {"loss": loss.item(), "l1": l1.item(), "kl": kl.item()}

        summary = self._loop("autoencoder", {"vae": vae}, optimizer, p.ae_steps, 2e-3, step_fn)
        vae.eval()
        summary.update(ds.autoencoder_report(vae, self.data, p.n_test))
        vae.register_to_config(scaling_factor=summary["scaling_factor"])
        vae.save_pretrained(self.out / "autoencoder" / "final", safe_serialization=True)
        return self._finish("autoencoder", summary)

    def _expert(self, stage: str, init_from: Path | None) -> dict:
        """Train one expert on the latents of pictures (image) or spectrograms (audio)."""
        p = self.plan
        steps = p.image_steps if stage == "image" else p.audio_steps
        latents, labels = self.data.latents(self.out / "autoencoder" / "final", stage)
        torch.manual_seed(self.seed + STAGES.index(stage))
        unet = build_unet()
        if init_from is not None:
            from diffusers import UNet2DModel

            unet.load_state_dict(UNet2DModel.from_pretrained(init_from).state_dict())
        ema = {k: v.detach().clone() for k, v in unet.state_dict().items()}
        lr = 1e-3 if init_from is None else 4e-4
        optimizer = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=1e-4)
        scheduler = build_scheduler("ddpm")
        labels_t = torch.from_numpy(labels)
        # Min-SNR-gamma weighting (Hang et al., 2023) for an epsilon-predicting model:
        # w(t) = min(SNR(t), gamma) / SNR(t). Nearly clean steps, which only polish
        # detail, stop dominating the loss, so the coarse layout (the class) is
        # learned in fewer steps.
        snr = scheduler.alphas_cumprod / (1 - scheduler.alphas_cumprod)
        weight_of_t = snr.clamp(max=p.min_snr_gamma) / snr

        def step_fn(step: int, g: torch.Generator) -> dict[str, float]:
            idx = torch.randint(0, latents.shape[0], (p.unet_batch,), generator=g)
            x0 = torch.from_numpy(latents[idx.numpy()]).float()
            cls = labels_t[idx].clone()
            cls[torch.rand(p.unet_batch, generator=g) < 0.15] = NULL_CLASS
            # offset noise (a per-channel constant added to the noise) lets the expert move
            # a latent's mean, so dark backgrounds come out dark, not mid-gray
            noise = torch.randn(x0.shape, generator=g)
            noise += p.offset_noise * torch.randn((*x0.shape[:2], 1, 1), generator=g)
            t = torch.randint(0, scheduler.config.num_train_timesteps, (p.unet_batch,), generator=g)
            xt = scheduler.add_noise(x0, noise, t)
            error = (unet(xt, t, class_labels=cls).sample - noise) ** 2
            loss = (weight_of_t[t] * error.mean(dim=(1, 2, 3))).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            optimizer.step()
            return {"loss": loss.item()}

        summary = self._loop(stage, {"unet": unet}, optimizer, steps, lr, step_fn, ema, unet)
        unet.load_state_dict(ema)  # ship the exponential moving average
        unet.save_pretrained(self.out / stage / "final", safe_serialization=True)
        return self._finish(stage, summary)

    def image(self) -> dict:
        """Train the image expert from scratch on picture latents."""
        return self._expert("image", None)

    def audio(self) -> dict:
        """Fine-tune a copy of the image expert on spectrogram latents."""
        return self._expert("audio", self.out / "image" / "final")

    def judges(self) -> dict:
        """Train the picture judge and the listening sound judge."""
        p = self.plan
        pictures, picture_labels = self.data.pictures()
        sounds, sound_labels = self.data.sounds()
        heard, heard_labels, _ = self.data.heard()
        torch.manual_seed(self.seed + 10)
        picture_judge, sound_judge = Judge(len(PICTURE_CLASSES)), Judge(len(PICTURE_CLASSES))
        params = list(picture_judge.parameters()) + list(sound_judge.parameters())
        optimizer = torch.optim.AdamW(params, lr=2e-3, weight_decay=1e-4)

        def step_fn(step: int, g: torch.Generator) -> dict[str, float]:
            x, y = ds.sample_labelled(pictures, picture_labels, p.judge_batch, g)
            loss_p = F.cross_entropy(picture_judge(ds.augment_pictures(x, g)), y)
            # the sound judge hears Griffin-Lim output (half the batch) and clean sounds
            half = p.judge_batch // 2
            xh, yh = ds.sample_labelled(heard, heard_labels, half, g)
            xc, yc = ds.sample_labelled(sounds, sound_labels, p.judge_batch - half, g)
            x, y = torch.cat([xh, xc]), torch.cat([yh, yc])
            loss_s = F.cross_entropy(sound_judge(ds.augment_spectrograms(x, g)), y)
            optimizer.zero_grad(set_to_none=True)
            (loss_p + loss_s).backward()
            optimizer.step()
            return {"picture_loss": loss_p.item(), "sound_loss": loss_s.item()}

        modules = {"picture_judge": picture_judge, "sound_judge": sound_judge}
        summary = self._loop("judges", modules, optimizer, p.judge_steps, 2e-3, step_fn)
        folder = self.out / "judges" / "final"
        folder.mkdir(parents=True, exist_ok=True)
        from safetensors.torch import save_file

        for name, judge in modules.items():
            judge.eval()
            save_file(judge.state_dict(), str(folder / f"{name}.safetensors"))
            (folder / f"{name}.json").write_text(json.dumps(judge.config))
        return self._finish("judges", summary)

    def run(self, stages: tuple[str, ...] = STAGES) -> dict[str, dict]:
        """Run the requested stages in order (finished ones are skipped)."""
        results = {}
        if "judges" in stages and self.done("judges") is None:
            self.data.start_heard()  # Griffin-Lim on the second core while the others train
        for stage in stages:
            summary = self.done(stage)
            if summary is None:
                print(f"[itslib.mini.train] stage {stage}", file=sys.stderr, flush=True)
                summary = getattr(self, stage)()
            else:
                print(f"[itslib.mini.train] stage {stage}: done, skipped", file=sys.stderr)
            results[stage] = summary
        return results


def check_run(out: str | Path, seed: int, steps_scale: float, threads: int,
              weights: str | Path | None, export_weights: bool) -> Path | None:
    """Check a run's settings before anything is written; return the folder the weights
    will go to (None without export).

    Raises ``ValueError`` naming the parameter (and its ``train-mini`` flag)."""
    whole(seed, "seed", low=0, note="--seed")
    whole(threads, "threads", note="--threads")
    number(steps_scale, "steps_scale", low=0, low_open=True, note="--steps-scale; 1: the plan")
    ensure_writable_folder(out, name="out (--out)")
    folder = None
    if export_weights:
        folder = Path(weights) if weights else Path(out) / "weights"
        check_output_folder(folder, name="weights (--weights)", overwrite=True)
    return folder


def scaled_plan(plan: Plan, steps_scale: float) -> Plan:
    """``plan`` with every stage's step count times ``steps_scale``; a scale that leaves a
    stage without a whole step is refused, naming the smallest that does not."""
    names = ("ae_steps", "image_steps", "audio_steps", "judge_steps")
    steps = {name: round(getattr(plan, name) * steps_scale) for name in names}
    if min(steps.values()) < 1:
        smallest = 0.5 / min(getattr(plan, name) for name in names)
        raise ValueError(f"steps_scale={steps_scale} (--steps-scale) leaves a stage without "
                         f"a step ({steps}); use at least {smallest:.2g}.")  # fmt: skip
    return replace(plan, **steps)


def train(out: str | Path, seed: int = 0, quick: bool = False,
          stages: Sequence[str] | None = None, steps_scale: float = 1.0,
          weights: str | Path | None = None, export_weights: bool = True, threads: int = 1,
          command: str = "") -> dict:  # fmt: skip
    """Train (or resume) the miniature world in ``out`` and export its weights to
    ``weights`` (default: ``out/weights``; the shipped folder, ``itslib/mini/weights``,
    only when named) once every stage is done. ``threads``: torch CPU threads (1 leaves
    the second core to the Griffin-Lim worker). Everything is checked before anything is
    written (:func:`check_run`). Returns the export's summary (with ``"weights"``, the
    folder), or each stage's summary when not exporting."""
    folder = check_run(out, seed, steps_scale, threads, weights, export_weights)
    plan = scaled_plan(QUICK if quick else Plan(), steps_scale)
    torch.set_num_threads(threads)
    if threads == 1:
        ds.single_thread()
    trainer = Trainer(Path(out), seed, plan)
    started = trainer.out / "run.json"  # the first start, so wall time spans resumed runs
    if not started.exists():
        started.write_text(json.dumps({"first_start": time.time()}))
    tic = json.loads(started.read_text())["first_start"]
    results = trainer.run(tuple(s for s in STAGES if not stages or s in stages))
    if folder is not None and all(trainer.done(s) for s in STAGES):
        info = export(trainer, folder, command=command, plan=asdict(plan), wall=time.time() - tic)
        print(f"[itslib.mini.train] weights exported to {folder}; sample with them: "
              f"ITSLIB_MINI_WEIGHTS={folder}", file=sys.stderr)  # fmt: skip
        return info | {"weights": str(folder)}
    return results
