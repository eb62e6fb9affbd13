"""The BinauralGrad denoiser: a DiffWave-style WaveNet conditioned on mono, warp and positions."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace

import torch
from huggingface_hub import PyTorchModelHubMixin
from huggingface_hub.constants import CONFIG_NAME, SAFETENSORS_SINGLE_FILE
from torch import nn
from torch.nn import functional as F

from binauralgrad.inputs import check_conditions
from binauralgrad.io.hub import load_safetensors, load_state_strict, resolve_file
from binauralgrad.models.config import ENCODER_KERNEL, DenoiserConfig
from binauralgrad.models.embedding import EMBEDDING_WIDTH, DiffusionStepEmbedding
from binauralgrad.models.head_filter import HeadFilter, whole_heard
from binauralgrad.prior import Prior, PriorTerms, stage_prior
from binauralgrad.view import VIEW_CHANNELS, view_features

LEAKY_SLOPE = 0.4


@dataclass
class DenoiserOutput:
    """What a denoiser predicts.

    Attributes:
        sample: (B, C, T) the predicted noise.
        aux_samples: auxiliary predictions (B, C, T) from intermediate layers (empty when not
            requested), used by the training loss.
    """

    sample: torch.Tensor
    aux_samples: tuple[torch.Tensor, ...] = ()


def _conv(in_channels: int, out_channels: int, kernel_size: int = 1,
          dilation: int = 1) -> nn.Conv1d:
    conv = nn.Conv1d(in_channels, out_channels, kernel_size,
                     padding=dilation * (kernel_size - 1) // 2, dilation=dilation)
    nn.init.kaiming_normal_(conv.weight)
    return conv


class ConditionEncoder(nn.Module):
    """Encodes `[warped, mono, (mean)]` and the audio-rate positions into one condition."""

    def __init__(self, audio_channels: int, condition_channels: int, view_channels: int):
        super().__init__()
        quarter, half = condition_channels // 4, condition_channels // 2
        self.dsp_conv1 = _conv(audio_channels, quarter, ENCODER_KERNEL)
        self.dsp_conv2 = _conv(quarter, half, ENCODER_KERNEL)
        self.view_conv1 = _conv(view_channels, quarter, ENCODER_KERNEL)
        self.view_conv2 = _conv(quarter, half, ENCODER_KERNEL)
        self.merge_conv = _conv(condition_channels, condition_channels, ENCODER_KERNEL)

    def forward(self, audio: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
        """Args: audio (B, A, T), view (B, V, T). Returns: (B, condition_channels, T)."""
        dsp = F.leaky_relu(self.dsp_conv1(audio), LEAKY_SLOPE)
        dsp = F.leaky_relu(self.dsp_conv2(dsp), LEAKY_SLOPE)
        view = F.leaky_relu(self.view_conv1(view), LEAKY_SLOPE)
        view = F.leaky_relu(self.view_conv2(view), LEAKY_SLOPE)
        return F.leaky_relu(self.merge_conv(torch.cat([dsp, view], dim=1)), LEAKY_SLOPE)


class ResidualLayer(nn.Module):
    """One gated, dilated WaveNet layer with step and condition inputs."""

    def __init__(self, residual_channels: int, condition_channels: int, dilation: int):
        super().__init__()
        self.dilated_conv = _conv(residual_channels, 2 * residual_channels, 3, dilation)
        self.diffusion_projection = nn.Linear(EMBEDDING_WIDTH, residual_channels)
        self.conditioner_projection = _conv(condition_channels, 2 * residual_channels)
        self.output_projection = _conv(residual_channels, 2 * residual_channels)

    def forward(self, hidden: torch.Tensor, step_embedding: torch.Tensor,
                condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the next hidden state and this layer's skip output, both (B, R, T)."""
        conditioner = self.conditioner_projection(condition)
        return self.forward_projected(hidden, step_embedding, conditioner)

    def forward_projected(self, hidden: torch.Tensor, step_embedding: torch.Tensor,
                          conditioner: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """As `forward`, with the condition already projected to (B, 2R, T)."""
        y = hidden + self.diffusion_projection(step_embedding).unsqueeze(-1)
        y = self.dilated_conv(y) + conditioner
        gate, filter_ = y.chunk(2, dim=1)
        y = self.output_projection(torch.sigmoid(gate) * torch.tanh(filter_))
        residual, skip = y.chunk(2, dim=1)
        return (hidden + residual) / math.sqrt(2.0), skip


class BinauralDenoiser(nn.Module, PyTorchModelHubMixin, library_name="binauralgrad",
                       repo_url="https://github.com/binauralgrad/binauralgrad",
                       tags=["audio", "binaural", "diffusion", "speech"]):
    """Predicts the noise in a noisy mean (stage one) or noisy binaural signal (stage two).

    Example:
        >>> denoiser = BinauralDenoiser(DenoiserConfig.stage_one(residual_layers=4,
        ...                             residual_channels=8, dilation_cycle_length=2))
        >>> out = denoiser(noisy, torch.tensor([10]), warped=warped, mono=mono,
        ...                positions=positions)
        >>> out.sample.shape      # like `noisy`
    """

    def __init__(self, config: DenoiserConfig):
        super().__init__()
        if isinstance(config, dict):  # the Hub mixin hands a plain dict on some versions
            config = DenoiserConfig(**config)
        self.config = config
        audio_channels = 3 + int(config.use_mean_condition)  # warped (2) + mono + mean
        self.input_projection = _conv(config.out_channels, config.residual_channels)
        self.diffusion_embedding = DiffusionStepEmbedding(config.num_train_steps)
        self.condition_encoder = ConditionEncoder(audio_channels, config.condition_channels,
                                                 VIEW_CHANNELS[config.view])
        self.residual_layers = nn.ModuleList(
            ResidualLayer(config.residual_channels, config.condition_channels, dilation)
            for dilation in config.dilations
        )
        self.skip_projection = _conv(config.residual_channels, config.residual_channels)
        self.output_projection = _conv(config.residual_channels, config.out_channels)
        nn.init.zeros_(self.output_projection.weight)
        # The learned head of the prior (`binauralgrad.prior`), if it has one.
        self.learned_head = HeadFilter(config.prior.head_taps) if config.prior.head_taps else None

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, cache_dir,
                         force_download: bool, local_files_only: bool, token,
                         map_location: str = "cpu", strict: bool = True,
                         **model_kwargs) -> BinauralDenoiser:
        # Replaces the mixin's loader, which defaults to strict=False and would silently keep
        # random weights for anything a foreign or truncated file lacks.
        model = cls(**model_kwargs)
        _load_weights(model, model_id, None, map_location, revision=revision, cache_dir=cache_dir,
                      force_download=force_download, local_files_only=local_files_only, token=token)
        return model.eval()

    def generate_model_card(self, *args, **kwargs):
        # The mixin's own card says "pushed to the Hub" with placeholders; ours states the
        # model and, once training has attached it (`training_info`), the recipe.
        from huggingface_hub import ModelCard

        from binauralgrad.io.cards import denoiser_card

        return ModelCard(denoiser_card(self.config, getattr(self, "training_info", None)))

    def encode_condition(self, *, warped: torch.Tensor, mono: torch.Tensor,
                         positions: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
        """The step-independent condition (paper Fig. 2's condition encoder).

        Args:
            warped: (B, 2, T) geometric warp of the mono signal.
            mono: (B, 1, T) mono signal.
            positions: (B, 7, K) 120 Hz tracking rows, T == frame_samples * K.
            mean: (B, 1, T) mean of the ears; required for stage two, refused for stage one.

        Returns:
            (B, condition_channels, T).
        """
        self._check_conditions(warped, mono, positions, mean)
        audio = [warped, mono] + ([mean] if self.config.use_mean_condition else [])
        view = view_features(positions, self.config.view)
        view = view.repeat_interleave(self.config.frame_samples, dim=-1)
        return self.condition_encoder(torch.cat(audio, dim=1), view)

    def prior(self, *, warped: torch.Tensor, mono: torch.Tensor, positions: torch.Tensor,
              mean: torch.Tensor | None = None, learned: bool = True, **_) -> Prior:
        """This stage's prior (what its latent is relative to) for whole (B, C, T) conditions.

        A learned head's part carries gradient (its fitting loss trains it); outside training
        its taps are summed exactly as the wavefront and the stream sum them. With
        `learned=False` the head is left out: the DSP prior alone, for comparison.
        """
        config = self.config
        if not learned and config.prior.head_taps:
            config = replace(config, prior=replace(config.prior, head_taps=0))
        envelope, spreading, directions = PriorTerms([config]).whole(
            mono, positions, config.frame_samples)
        heard = None
        if config.prior.head_taps:
            heard = whole_heard(self.learned_head, warped, spreading, directions,
                                exact=not self.training)
        return stage_prior(config, warped, mean, envelope, spreading, heard=heard)

    def forward(self, noisy: torch.Tensor, timesteps: torch.Tensor, *, warped: torch.Tensor,
                mono: torch.Tensor, positions: torch.Tensor, mean: torch.Tensor | None = None,
                return_aux: bool = True) -> DenoiserOutput:
        """Predicts the noise in `noisy` (paper Eq. 2's epsilon_theta).

        Args:
            noisy: (B, C, T) noisy sample, C = config.out_channels.
            timesteps: (B,) or (1,) diffusion steps, integer or fractional.
            warped, mono, positions, mean: the conditions (see `encode_condition`).
            return_aux: also compute the auxiliary outputs (the training loss needs them).

        Returns:
            DenoiserOutput with `sample` (B, C, T) and `aux_samples`.
        """
        condition = self.encode_condition(warped=warped, mono=mono, positions=positions, mean=mean)
        return self.denoise(noisy, timesteps, condition, return_aux=return_aux)

    def denoise(self, noisy: torch.Tensor, timesteps: torch.Tensor, condition: torch.Tensor,
                *, return_aux: bool = True) -> DenoiserOutput:
        """The WaveNet on an encoded condition (B, condition_channels, T); see `forward`."""
        self._check_noisy(noisy, condition)
        step_embedding = self.diffusion_embedding(self._check_timesteps(timesteps, noisy))
        hidden = F.relu(self.input_projection(noisy))
        skip_sum: torch.Tensor | None = None
        aux_samples = []
        for index, layer in enumerate(self.residual_layers):
            if return_aux and index % self.config.aux_output_every == \
                    self.config.aux_output_every - 1:
                aux_samples.append(self._project_skips(skip_sum, index))
            hidden, skip = layer(hidden, step_embedding, condition)
            skip_sum = skip if skip_sum is None else skip_sum + skip
        sample = self._project_skips(skip_sum, len(self.residual_layers))
        return DenoiserOutput(sample=sample, aux_samples=tuple(aux_samples))

    def _project_skips(self, skip_sum: torch.Tensor, count: int) -> torch.Tensor:
        # Dividing by sqrt(count) keeps the skip sum's scale independent of depth.
        hidden = F.relu(self.skip_projection(skip_sum / math.sqrt(count)))
        return self.output_projection(hidden)

    def _check_conditions(self, warped, mono, positions, mean) -> None:
        check_conditions(warped, mono, positions, mean, frame_samples=self.config.frame_samples,
                         use_mean_condition=self.config.use_mean_condition)

    def _check_noisy(self, noisy: torch.Tensor, condition: torch.Tensor) -> None:
        expected = (condition.shape[0], self.config.out_channels, condition.shape[-1])
        if noisy.shape != expected:
            raise ValueError(f"noisy must be (B, C, T) = {expected}, got {tuple(noisy.shape)}")

    def _check_timesteps(self, timesteps, noisy: torch.Tensor) -> torch.Tensor:
        timesteps = torch.as_tensor(timesteps, device=noisy.device)
        if timesteps.dim() == 0:
            timesteps = timesteps.reshape(1)
        if timesteps.dim() != 1 or timesteps.shape[0] not in (1, noisy.shape[0]):
            raise ValueError(f"timesteps must be (B,) or (1,) with B={noisy.shape[0]}, "
                             f"got {tuple(timesteps.shape)}")
        if timesteps.min() < 0 or timesteps.max() > self.config.num_train_steps - 1:
            raise ValueError(f"timesteps must lie in [0, {self.config.num_train_steps - 1}], "
                             f"got {timesteps.tolist()}")
        return timesteps


def _load_weights(model: BinauralDenoiser, path_or_repo_id, subfolder: str | None,
                  device, **download_kwargs) -> None:
    weights_file = resolve_file(path_or_repo_id, SAFETENSORS_SINGLE_FILE, subfolder=subfolder,
                                **download_kwargs)
    load_state_strict(model, load_safetensors(weights_file, device), str(weights_file))


def load_denoiser(path_or_repo_id: str | os.PathLike, *, subfolder: str | None = None,
                  device: str | torch.device = "cpu", **download_kwargs) -> BinauralDenoiser:
    """Loads a denoiser from `config.json` + `model.safetensors` in a folder or Hub repo.

    Args:
        path_or_repo_id: a local folder or a Hub repo id.
        subfolder: the denoiser's folder inside it (e.g. "stage_one" of a pipeline).
        device: where to put the weights.
        download_kwargs: revision, cache_dir, token, local_files_only, force_download.

    Raises:
        FileNotFoundError: a file is missing. ValueError: a config or weight does not fit.
    """
    config_file = resolve_file(path_or_repo_id, CONFIG_NAME, subfolder=subfolder,
                               **download_kwargs)
    try:
        values = json.loads(config_file.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{config_file} is not valid JSON ({error})") from error
    try:
        config = DenoiserConfig.from_dict(values)
    except TypeError as error:
        raise ValueError(f"{config_file} is not a DenoiserConfig ({error})") from error
    except ValueError as error:
        raise ValueError(f"{config_file}: {error}") from error
    model = BinauralDenoiser(config).to(device)
    _load_weights(model, path_or_repo_id, subfolder, device, **download_kwargs)
    return model.eval()
