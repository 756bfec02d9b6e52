"""The training loop of one `classify train` run (`Trainer`): data, optimisation, epochs, early stopping.

What the run writes to its folder (checkpoint, model.json, metrics.csv, left_out.csv) is `RunFiles`
(classify.run_files); the command's checks and resume are `classify.train.train`, which says how the
two stages, the schedules and exact resume fit together.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from classify.config import TrainConfig
from classify.data import class_list, labelled_rows, split_datasets
from classify.distributed import init_distributed
from classify.gate import OFF_TOPIC
from classify.model import build_classifier, save_meta, save_model
from classify.run_files import RunFiles, frame_sha256, labels_sha256, split_sha256
from curate.errors import UsageError
from curate.progress import progress_bar
from curate.vision.backbones import cpu_speed
from curate.vision.images import ignore_sigterm
from curate.workspace import Workspace, catalog_sha256, read_catalog

log = logging.getLogger("classify.train")  # the training log keeps the command's name: users filter on it

MIN_CLASS_PHOTOS = 5  # fewer training photos of a class: a warning (the model can hardly learn it)


OFF_TOPIC_CLASS = OFF_TOPIC  # the hidden extra class of --off-topic-class: the gate's answer, never a label


def off_topic_rows(catalog: pd.DataFrame) -> pd.DataFrame:
    """The photos `--off-topic-class` trains as the extra class, in the train split: the prefilter's
    off-topic drops that the topic gate is fitted on (`classify.gate.gate_rows`: none of a test
    photographer's, nor a copy of one), so the sandals test stays unseen."""
    from classify.data import check_image_refs
    from classify.gate import gate_rows

    _, negatives = gate_rows(catalog)
    if not negatives.empty:
        check_image_refs(negatives)
    return negatives.assign(label=OFF_TOPIC_CLASS, split="train")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer(RunFiles):
    """Holds the model, data and optimisation state of one run."""

    def __init__(self, ws: Workspace, run_dir: Path, config: TrainConfig, classes: list[str] | None = None,
                 catalog: pd.DataFrame | None = None, name: str | None = None):
        """`catalog`: train on this catalog instead of the workspace's (e.g. an uncurated or
        randomly split variant); images still come from the workspace's store. `name`: what the
        warnings call this model when it is not the run the user asked for (e.g. "the uncurated
        comparison model", trained by `classify evaluate --uncurated`)."""
        self.ws, self.run_dir, self.config, self.name = ws, Path(run_dir), config, name
        self.dist, self.device = init_distributed(config.device)
        if catalog is None:
            catalog = read_catalog(ws)
            self.catalog_sha256 = catalog_sha256(ws)
        else:
            self.catalog_sha256 = frame_sha256(catalog)
        # the classes first, so that the head is built with the right width (the datasets need
        # the backbone's preprocessing, so they come after the model)
        rows = labelled_rows(catalog)
        self.split_sha256 = split_sha256(rows)
        self.started_labels_sha256 = labels_sha256(rows)  # a resumed run's first start's (load_checkpoint)
        self.classes = classes or class_list(rows)
        if config.off_topic_class and OFF_TOPIC_CLASS in self.classes:
            raise UsageError(f"--off-topic-class trains a hidden class named {OFF_TOPIC_CLASS!r}, but that is one of "
                             "the labels; rename the label (a recipe's [[labels]]) or train without the flag")
        off_topic = off_topic_rows(catalog) if config.off_topic_class else rows.iloc[:0]
        self.off_topic_output = not off_topic.empty
        if config.off_topic_class and off_topic.empty:
            log.warning("note: --off-topic-class: the catalog has no photos dropped as off_topic outside the "
                        "test photographers (run `curate prefilter` first); training on the labels alone")
        # what the head's outputs are: the labels, then (outlier exposure) one hidden off-topic class
        self.outputs = self.classes + ([OFF_TOPIC_CLASS] if self.off_topic_output else [])
        seed_everything(config.seed)  # the new head's initial weights (identical on every rank)
        self.model, self.preprocess = build_classifier(config.backbone, len(self.classes),
                                                       pretrained=config.pretrained, dropout=config.dropout,
                                                       image_size=config.image_size,
                                                       off_topic_output=self.off_topic_output)
        # validation, evaluation, prediction and the gate see `eval_size` crops (model.json records them)
        self.eval_preprocess = replace(self.preprocess, size=config.eval_size)
        self.data = split_datasets(ws, pd.concat([rows, off_topic], ignore_index=True), self.outputs,
                                   self.preprocess, config.cache_side, config.color_jitter,
                                   crop_scale=config.crop_scale, eval_preprocess=self.eval_preprocess)
        self._warn_thin_classes()
        self._note_classes_without_val()
        cuda = self.device.type == "cuda"
        self.bf16 = config.precision == "bf16" or (config.precision == "auto" and cuda)
        self.channels_last = cuda if config.channels_last is None else config.channels_last
        self.model.to(self.device)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if cuda:
            torch.backends.cudnn.benchmark = True
        self.forward = self._wrap()
        self.criterion = nn.CrossEntropyLoss(weight=self._class_weights(), label_smoothing=config.label_smoothing)
        self._loaders: dict = {}
        self.history: list[dict] = []
        self.best_val = float("inf")
        self.bad_epochs = 0
        self.next_epoch = 0
        self.optimizer = self.scheduler = None
        self.leaky = False
        self.gate: dict | None = None  # what record_gate fitted (or why not), once training has ended

    # ---------------------------------------------------------------- data
    def _warn_thin_classes(self) -> None:
        """A warning naming the classes with fewer than MIN_CLASS_PHOTOS training photos: the model
        learns next to nothing of them, and their validation and test figures are noise."""
        counts = np.bincount(self.data["train"].dataset.targets, minlength=len(self.outputs))[:len(self.classes)]
        thin = [f"{name} {int(count)}" for name, count in zip(self.classes, counts) if count < MIN_CLASS_PHOTOS]
        # a comparison model's thin classes are in its own training set: its figures for them are noise
        fix = ("gather more photos for them, or merge or drop those labels" if self.name is None else
               "its figures for them are noise")
        if thin and self.dist.main:
            log.warning(self.named(f"warning: {len(thin)} classes have fewer than {MIN_CLASS_PHOTOS} training photos "
                                   f"({', '.join(thin[:5])}{' …' if len(thin) > 5 else ''}); {fix}"))

    def _note_classes_without_val(self) -> None:
        """A note naming the classes with no validation photo: the val loss and accuracy (the headline
        `classify train` ends on, the best epoch, a probe's L2 strength when chosen on validation) say
        nothing of them. An empty val split has its own warning (`train.empty_split_warnings`)."""
        targets = self.data["val"].dataset.targets
        line = classes_without_val_note(self.classes, np.bincount(targets, minlength=len(self.outputs)))
        if line and len(targets) and self.dist.main:
            log.warning(self.named(line))

    def named(self, line: str) -> str:
        """`line` saying which model it is about when this is not the run the user asked for (`name`)."""
        return with_model_name(line, self.name)

    def train_photos(self) -> int:
        """Labelled training photos (without the off-topic class's)."""
        return int((self.data["train"].dataset.targets < len(self.classes)).sum())

    def _class_weights(self):
        if self.config.balance != "loss":
            return None
        counts = np.bincount(self.data["train"].dataset.targets, minlength=len(self.outputs)).astype(float)
        weights = counts.sum() / np.maximum(counts, 1) / len(self.outputs)
        return torch.tensor(weights, dtype=torch.float32, device=self.device)

    def loader(self, split: str, epoch: int):
        """The split's DataLoader, built once per split (worker processes persist across
        epochs) and pointed at `epoch`: the epoch fixes the order and every augmentation."""
        from torch.utils.data import DataLoader

        from classify.data import EpochSampler

        if split not in self._loaders:
            dataset = self.data[split].dataset
            sampler = EpochSampler(len(dataset), self.config.seed, shuffle=split == "train",
                                   weights=self._sample_weights(dataset) if split == "train" else None,
                                   rank=self.dist.rank if split == "train" else 0,
                                   world_size=self.dist.world_size if split == "train" else 1)
            workers = self.config.resolved_workers()
            self._loaders[split] = DataLoader(dataset, batch_size=self.config.batch_size, sampler=sampler,
                                              num_workers=workers, pin_memory=self.device.type == "cuda",
                                              persistent_workers=workers > 0, drop_last=False,
                                              worker_init_fn=ignore_sigterm,  # SIGTERM: the main process's
                                              # its own generator: building an iterator must not
                                              # draw from the global RNG (dropout's)
                                              generator=torch.Generator().manual_seed(self.config.seed))
        loader = self._loaders[split]
        loader.sampler.set_epoch(epoch)
        return loader

    def _sample_weights(self, dataset):
        if self.config.balance != "sampler":
            return None
        counts = np.bincount(dataset.targets, minlength=len(self.outputs))
        return 1.0 / np.maximum(counts[dataset.targets], 1)

    # ---------------------------------------------------------------- optimisation
    def _set_stage(self, stage: int) -> None:
        frozen = stage == 1
        self.model.backbone.requires_grad_(not frozen)
        head_params = list(self.model.head.parameters())
        if frozen:
            groups = [{"params": head_params, "lr": self.config.lr}]
        else:
            groups = [{"params": list(self.model.backbone.parameters()),
                       "lr": self.config.lr * self.config.backbone_lr_factor},
                      {"params": head_params, "lr": self.config.lr}]
        self.optimizer = torch.optim.AdamW(groups, weight_decay=self.config.weight_decay)
        epochs = self.config.head_epochs if frozen else self.config.epochs
        if self.config.schedule == "onecycle":
            steps = max(1, epochs * len(self.loader("train", 0)))
            # OneCycleLR divides by its warm-up length, pct_start * steps - 1: zero at exactly
            # 4 steps (a ZeroDivisionError, pytorch/pytorch#180187), so warm up a little longer there
            pct_start = 0.25 if steps != 4 else 0.3
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, max_lr=[g["lr"] for g in groups], total_steps=steps, pct_start=pct_start)
        else:
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, factor=0.3, patience=1)
        self.stage = stage

    def _wrap(self):
        """The callable that runs the model: DDP and/or torch.compile around the plain module.

        DDP is built once, while every parameter trains; `find_unused_parameters` lets stage 1
        leave the frozen backbone without gradients (a second DDP on the same module for
        stage 2 would leave the first one's gradient hooks behind)."""
        forward = self.model
        if self.dist.active:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            forward = DistributedDataParallel(self.model, device_ids=ids, find_unused_parameters=True)
        return torch.compile(forward) if self.config.compile else forward

    def on_device(self, images, targets):
        """A batch on the training device, in the model's memory layout."""
        images = images.to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, targets.to(self.device, non_blocking=True)

    def autocast(self):
        """bf16 autocast when the run's precision asks for it (auto: on CUDA), else a no-op."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def _reduce(self, *values: float) -> list[float]:
        """Sum per-process numbers over all ranks."""
        if not self.dist.active:
            return list(values)
        import torch.distributed as dist

        tensor = torch.tensor(values, dtype=torch.float64, device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(tensor)
        return tensor.tolist()

    def replicas_in_sync(self) -> bool:
        """Every rank holds the same weights (gradients were averaged); True without torchrun."""
        if not self.dist.active:
            return True
        import torch.distributed as dist

        checksum = torch.stack([p.detach().double().sum() for p in self.model.parameters()]).sum().reshape(1)
        checksum = checksum.to(self.device if self.device.type == "cuda" else "cpu")
        gathered = [torch.zeros_like(checksum) for _ in range(self.dist.world_size)]
        dist.all_gather(gathered, checksum)
        return all(torch.equal(g, gathered[0]) for g in gathered)

    def optimise(self, images, targets):
        """One optimisation step on a batch already on the device (`on_device`): (the batch's mean
        loss, how many it classified right), both left on the device, unread, so that the step
        never waits for the GPU."""
        with self.autocast():
            logits = self.forward(images, all_outputs=True)
            loss = self.criterion(logits.float(), targets)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), (logits.detach().argmax(1) == targets).sum()

    def _accumulator(self, value):
        """`value` in the precision an epoch's sums are kept in: float64 (as Python floats were),
        float32 on Apple's MPS, which has no float64."""
        return value.float() if self.device.type == "mps" else value.double()

    def _train_epoch(self, epoch: int) -> dict:
        self.model.train()
        if self.stage == 1:
            self.model.backbone.eval()  # frozen backbone: keep its batch-norm statistics
        # the epoch's loss and hits are summed on the device and read once, after the loop: reading
        # them every step would make the CPU wait for the GPU before it queues the next step
        total_loss = correct = None
        seen = 0
        last_lr = None
        loader = self.loader("train", epoch)
        label = f"epoch {epoch + 1}/{self.config.total_epochs} (stage {self.stage})"
        label = label if self.name is None else f"{label}, {self.name}"
        with progress_bar(label, len(loader) if self.dist.main else None) as advance:
            for images, targets in loader:
                last_lr = max(group["lr"] for group in self.optimizer.param_groups)  # the rate this step uses
                loss, hits = self.optimise(*self.on_device(images, targets))
                if self.config.schedule == "onecycle":
                    self.scheduler.step()
                loss = self._accumulator(loss) * len(targets)
                total_loss = loss if total_loss is None else total_loss + loss
                correct = hits if correct is None else correct + hits
                seen += len(targets)
                advance()
        total_loss = float(total_loss) if total_loss is not None else 0.0
        correct = int(correct) if correct is not None else 0
        total_loss, correct, seen = self._reduce(total_loss, correct, seen)
        # the epoch's logged rate: its last step's (read after the loop, a one-cycle schedule has already
        # stepped past its end, where the cosine wraps back up to 16% of the peak)
        self.epoch_lr = last_lr if last_lr is not None else max(group["lr"] for group in self.optimizer.param_groups)
        return {"train_loss": total_loss / max(seen, 1), "train_accuracy": correct / max(seen, 1)}

    @torch.inference_mode()
    def evaluate(self, split: str) -> dict:
        if not len(self.data[split].dataset):
            return {f"{split}_loss": None, f"{split}_accuracy": None}
        self.model.eval()
        total_loss = correct = None
        seen = 0
        plain = nn.CrossEntropyLoss(reduction="sum")
        for images, targets in self.loader(split, 0):
            images, targets = self.on_device(images, targets)
            with self.autocast():
                logits = self.model(images).float()
            loss, hits = self._accumulator(plain(logits, targets)), (logits.argmax(1) == targets).sum()
            total_loss = loss if total_loss is None else total_loss + loss  # read once, after the loop
            correct = hits if correct is None else correct + hits
            seen += len(targets)
        return {f"{split}_loss": float(total_loss) / seen, f"{split}_accuracy": int(correct) / seen}

    # ---------------------------------------------------------------- the loop
    def fit(self, stop_after: int | None = None) -> list[dict]:
        """Train from `next_epoch` to the end (or early stop). `stop_after` ends after that many
        epochs in this call (used to simulate an interruption)."""
        with cpu_speed(self.device):
            return self._fit(stop_after)

    def _fit(self, stop_after: int | None) -> list[dict]:
        if self.config.probe:
            return self._fit_probe()
        done_here = 0
        for epoch in range(self.next_epoch, self.config.total_epochs):
            stage = self.config.stage(epoch)
            if self.optimizer is None or stage != self.stage:
                self._set_stage(stage)
            seed_everything(self.config.seed * 100_003 + epoch)
            started = time.perf_counter()
            row = {"epoch": epoch + 1, "stage": stage, **self._train_epoch(epoch), **self.evaluate("val")}
            row["lr"] = self.epoch_lr
            row["seconds"] = round(time.perf_counter() - started, 2)
            if self.config.schedule == "plateau" and row["val_loss"] is not None:
                self.scheduler.step(row["val_loss"])
            self.history.append(row)
            improved = row["val_loss"] is None or row["val_loss"] < self.best_val - 1e-6
            if improved:
                self.best_val = row["val_loss"] if row["val_loss"] is not None else self.best_val
                self.bad_epochs = 0
                if self.dist.main:
                    save_model(self.run_dir, self.model, self.meta())
            else:
                self.bad_epochs += 1
            self.next_epoch = epoch + 1
            self.save_checkpoint()
            self.write_metrics()
            if self.dist.main:
                log.info(self.named(_epoch_line(row)))
            done_here += 1
            last_epoch = epoch + 1 == self.config.total_epochs
            if stage == 2 and self.bad_epochs >= self.config.patience and not last_epoch:
                if self.dist.main:
                    log.info(f"early stop: validation loss has not improved for {self.bad_epochs} epochs")
                self.next_epoch = self.config.total_epochs
                self.save_checkpoint()
                break
            if stop_after is not None and done_here >= stop_after:
                return self.history
        in_sync = self.replicas_in_sync()
        if self.dist.main:
            meta = self.meta()
            meta.metrics["replicas_in_sync"] = in_sync
            save_meta(self.run_dir, meta)
            self.write_metrics(plot=True)
        return self.history

    def _fit_probe(self) -> list[dict]:
        """`--probe`: the head fitted once on the frozen backbone's features (classify.probe)."""
        from classify.probe import fit_probe

        if self.dist.active:
            raise UsageError("--probe fits in one process: run it without torchrun")
        self.history = [fit_probe(self)]
        self.next_epoch = self.config.total_epochs
        meta = self.meta()
        meta.metrics.update({"replicas_in_sync": True, "probe_c": self.history[0]["probe_c"],
                             "probe_c_chosen_on": self.history[0]["probe_c_chosen_on"]})
        save_model(self.run_dir, self.model, meta)
        self.write_metrics(plot=True)
        row = self.history[0]
        log.info(self.named(_epoch_line(row).replace("epoch 1 (stage 1)", "probe", 1).replace(
            f"lr {row['lr']:.2e}", f"L2 strength C = {row['probe_c']:g}", 1)))
        return self.history


def with_model_name(line: str, name: str | None) -> str:
    """`line` ("warning: …", "note: …") with `name` after its kind, when given: `curate run`'s evaluate
    step trains the uncurated comparison model, whose warnings read like the run's own otherwise.

    >>> with_model_name("warning: 2 classes have fewer than 5 training photos", "the uncurated comparison model")
    'warning: the uncurated comparison model: 2 classes have fewer than 5 training photos'
    >>> with_model_name("note: as it was", None)
    'note: as it was'
    """
    if not name:
        return line
    kind, _, rest = line.partition(": ")
    return f"{kind}: {name}: {rest}"


def classes_without_val_note(classes: list[str], val_photos) -> str | None:
    """One line naming the classes with no validation photo (`val_photos`: photos per class, in
    `classes`' order), or None when every class has one.

    >>> note = classes_without_val_note(["cat", "dog", "fish"], [3, 0, 0])
    >>> note.split(": ")[:2]
    ['note', '2 of 3 classes have no validation photo (dog, fish)']
    """
    missing = [name for name, count in zip(classes, val_photos) if count == 0]
    if not missing:
        return None
    shown = ", ".join(missing[:8]) + (" …" if len(missing) > 8 else "")
    return (f"note: {len(missing)} of {len(classes)} classes {'has' if len(missing) == 1 else 'have'} no validation "
            f"photo ({shown}): the val accuracy and loss, and what is chosen on them (the best epoch; a probe's L2 "
            f"strength, when chosen on validation), are over the other {len(classes) - len(missing)}")


def _epoch_line(row: dict) -> str:
    val = "" if row["val_loss"] is None else f" val loss {row['val_loss']:.4f} acc {row['val_accuracy']:.3f}"
    return (f"epoch {row['epoch']} (stage {row['stage']}): train loss {row['train_loss']:.4f} "
            f"acc {row['train_accuracy']:.3f}{val} lr {row['lr']:.2e} {row['seconds']:.1f}s")
