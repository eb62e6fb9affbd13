"""An `evaluate` metric: a thin wrapper of BinauralGrad's benchmark metrics."""

import datasets
import evaluate
import numpy as np

from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.evaluation.metrics import compute_metrics, metric_names, weighted_mean

_CITATION = """\
@inproceedings{leng2022binauralgrad,
  title={BinauralGrad: A Two-Stage Conditional Diffusion Probabilistic Model
         for Binaural Audio Synthesis},
  author={Leng, Yichong and Chen, Zehua and Guo, Junliang and Liu, Haohe and Chen, Jiawei
          and Tan, Xu and Mandic, Danilo and He, Lei and Li, Xiang-Yang and Qin, Tao
          and Zhao, Sheng and Liu, Tie-Yan},
  booktitle={Advances in Neural Information Processing Systems},
  year={2022}
}
"""

_DESCRIPTION = """\
The binaural speech benchmark of BinauralGrad (NeurIPS 2022): Wave L2, Amplitude L2, Phase L2,
multi-resolution STFT and wide-band PESQ (left ear, first 5 s), plus interaural time and level
difference errors; with protocol="full" also PESQ over the whole signal, both ears. Each metric is
averaged over the examples weighted by their length, as in the paper.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of (2, T) binaural signals at 48 kHz (left, right), e.g. numpy arrays.
    references: list of (2, T) ground-truth signals, same lengths as the predictions.
    protocol: "paper" (default) or "full" (adds "pesq_full").
    sample_rate: the signals' rate in Hz (default 48000).
Returns:
    wave_l2 (unscaled MSE; the paper prints x1000), amplitude_l2, phase_l2, mrstft, pesq,
    itd_error (microseconds), ild_error (dB) and, with protocol="full", pesq_full.
Examples:
    >>> metric = evaluate.load("path/to/binauralgrad/binaural_metrics")
    >>> metric.compute(predictions=[prediction], references=[reference])["wave_l2"]
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class BinauralMetrics(evaluate.Metric):
    """BinauralGrad's benchmark metrics over a set of binaural signals."""

    def _info(self) -> evaluate.MetricInfo:
        signal = datasets.Sequence(datasets.Sequence(datasets.Value("float32")))
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": signal, "references": signal}),
            reference_urls=["https://github.com/microsoft/NeuralSpeech/tree/master/BinauralGrad"],
        )

    def _compute(self, predictions, references, protocol="paper", sample_rate=SAMPLE_RATE):
        results, lengths = [], []
        for prediction, reference in zip(predictions, references, strict=True):
            prediction = np.asarray(prediction, dtype=np.float32)
            reference = np.asarray(reference, dtype=np.float32)
            results.append(
                compute_metrics(prediction, reference, protocol=protocol, sample_rate=sample_rate)
            )
            lengths.append(reference.shape[-1])
        average = weighted_mean(results, lengths)
        return {name: average[name] for name in metric_names(protocol) if name in average}
