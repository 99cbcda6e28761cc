"""Generate the YAML of the ndx-encoding-subspace NWB extension.

This script is the single source of the schema: ``spec/`` holds its output, committed.
Run ``python src/spec/create_extension_spec.py [OUTPUT_DIR]`` (default: the repository's
``spec/``) after every change here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pynwb.spec import (
    NWBAttributeSpec,
    NWBDatasetSpec,
    NWBGroupSpec,
    NWBLinkSpec,
    NWBNamespaceBuilder,
    NWBRefSpec,
    export_spec,
)

NAMESPACE = "ndx-encoding-subspace"
#: 0.2.0: TuningSubspaceTable gains the optional columns k90, k95 (written since 0.1.0 but
#: not declared), k_significant, reliability,
#: reliability_rule and dimension_confidence (files of 0.1.0 remain valid and load).
VERSION = "0.2.0"

FREQ_LAG_DIMS = ["num_frequencies", "num_lags"]


def _attr(name: str, doc: str, dtype: str, *, required: bool = True) -> NWBAttributeSpec:
    return NWBAttributeSpec(name=name, doc=doc, dtype=dtype, required=required)


def _parameters_attr() -> NWBAttributeSpec:
    return _attr(
        "parameters",
        "JSON document of every parameter of the step that produced this object.",
        "text",
        required=False,
    )


def _column(
    name: str, doc: str, dtype: str, dims: list[str] | None = None,
    shape: list[int | None] | None = None, *, required: bool = True,
) -> NWBDatasetSpec:
    return NWBDatasetSpec(
        name=name, doc=doc, dtype=dtype, dims=dims, shape=shape,
        neurodata_type_inc="VectorData", quantity=1 if required else "?",
    )


def _index(name: str, *, required: bool = True) -> NWBDatasetSpec:
    return NWBDatasetSpec(
        name=f"{name}_index",
        doc=f"Index into the {name} column: the rows of each table row.",
        neurodata_type_inc="VectorIndex",
        quantity=1 if required else "?",
    )


def _units_region(doc: str, *, quantity: int | str = 1) -> NWBDatasetSpec:
    return NWBDatasetSpec(
        name="units",
        doc=doc,
        neurodata_type_inc="DynamicTableRegion",
        dims=["num_units"],
        shape=[None],
        quantity=quantity,
    )


def spectrogram_series() -> NWBGroupSpec:
    """SpectrogramSeries: a sound as the encoding models see it."""
    return NWBGroupSpec(
        neurodata_type_def="SpectrogramSeries",
        neurodata_type_inc="TimeSeries",
        doc=(
            "Spectrogram of a sound stimulus: one row per time bin, one column per frequency "
            "channel, with how it was computed."
        ),
        datasets=[
            NWBDatasetSpec(
                name="data",
                doc="Spectrogram values, time x frequency channel.",
                dtype="numeric",
                dims=["num_times", "num_frequencies"],
                shape=[None, None],
            ),
            NWBDatasetSpec(
                name="frequencies",
                doc="Center frequency of each channel, in Hz.",
                dtype="float64",
                dims=["num_frequencies"],
                shape=[None],
            ),
        ],
        attributes=[
            _attr("filterbank", "Filterbank used, e.g. 'gammatone' or 'stft-log'.", "text"),
            _attr("n_channels", "Number of frequency channels of the filterbank.", "int32"),
            _attr("min_frequency", "Lowest channel center frequency, in Hz.", "float64"),
            _attr("max_frequency", "Highest channel center frequency, in Hz.", "float64"),
            _attr("bin_size", "Time bin (hop) of the spectrogram, in seconds.", "float64"),
            _attr("window_size", "Analysis window length, in seconds.", "float64", required=False),
            _attr(
                "compression",
                "Exponent applied to the mean filterbank power of each bin (e.g. 0.25: power ** 0.25, "
                "the magnitude to the 0.5); 1 when none.",
                "float64",
                required=False,
            ),
            _attr(
                "scaling",
                "Scaling steps after compression, in order, e.g. 'log(10x+1); per-channel "
                "min-max to [0, 1] over all sounds'.",
                "text",
            ),
        ],
    )


def model_parameter() -> NWBDatasetSpec:
    """ModelParameter: one tensor of a model's state, named by its key."""
    return NWBDatasetSpec(
        neurodata_type_def="ModelParameter",
        neurodata_type_inc="NWBData",
        doc=(
            "One parameter or buffer tensor of a trained model. The dataset name is the key of "
            "the tensor in the model's state (e.g. 'layers.0.weight'). Numeric, of any shape "
            "including scalar; no dtype or shape is declared so that any tensor fits."
        ),
    )


def training_log() -> NWBGroupSpec:
    """TrainingLog: loss per epoch."""
    return NWBGroupSpec(
        neurodata_type_def="TrainingLog",
        neurodata_type_inc="DynamicTable",
        doc="Training record of a model: one row per epoch of every training stage.",
        datasets=[
            _column("epoch", "Epoch number within its stage, from 0.", "int32"),
            _column("stage", "Training stage, from 1.", "int32"),
            _column("training_loss", "Loss on the fitting data.", "float64"),
            _column(
                "early_stopping_loss",
                "Loss on the early-stopping data (NaN where none was computed).",
                "float64",
                required=False,
            ),
            _column(
                "member",
                "Member of a model that averages several fitted networks, from 0 (absent for "
                "a single network).",
                "int32",
                required=False,
            ),
        ],
    )


def model_scores_table() -> NWBGroupSpec:
    """ModelScoresTable: prediction scores, one row per model output."""
    return NWBGroupSpec(
        neurodata_type_def="ModelScoresTable",
        neurodata_type_inc="DynamicTable",
        doc=(
            "Prediction scores on the validation data, one row per model output, in the order "
            "of the model's units region."
        ),
        datasets=[
            _column("r", "Pearson correlation of prediction and validation PSTH.", "float64"),
            _column(
                "ccnorm", "Noise-corrected correlation CCnorm (Schoppe et al. 2016).", "float64",
                required=False,
            ),
            _column(
                "noise_ceiling", "Highest correlation the response noise allows.", "float64",
                required=False,
            ),
            _column(
                "shuffle_floor",
                "95th percentile of correlations with shuffled predictions.",
                "float64",
                required=False,
            ),
        ],
    )


def encoding_model() -> NWBGroupSpec:
    """EncodingModel: a trained model stored as data."""
    return NWBGroupSpec(
        neurodata_type_def="EncodingModel",
        neurodata_type_inc="NWBDataInterface",
        doc=(
            "A trained encoding model stored as data: its architecture document, every "
            "parameter tensor, the input it expects, the units it predicts, its training record "
            "and its scores."
        ),
        attributes=_encoding_model_attributes(),
        datasets=_encoding_model_datasets(),
        groups=_encoding_model_groups(),
        links=[
            NWBLinkSpec(
                name="spectrogram",
                target_type="SpectrogramSeries",
                doc="A spectrogram computed as the model expects its input.",
                quantity="?",
            )
        ],
    )


def _encoding_model_attributes() -> list[NWBAttributeSpec]:
    """What the model is: its role, time base and where it came from in training."""
    return [
        _attr("description", "Description of the model.", "text"),
        _attr(
            "role",
            "What the model is, e.g. 'cnn', 'ln', 'subspace_nonlinearity'.",
            "text",
        ),
        _attr("bin_size", "Time bin of the model's input and output, in seconds.", "float64"),
        _attr("n_lags", "Number of time bins of input the model sees (receptive field).",
              "int32"),
        _attr("seed", "Seed of the random number generator used in training.", "int64",
              required=False),
        _attr("jackknife_index", "Index of the jackknife fold this model was fit on.",
              "int32", required=False),
        _attr("init_index", "Index of the random initialisation.", "int32", required=False),
    ]


def _sound_names(name: str, doc: str) -> NWBDatasetSpec:
    """An optional list of sound names."""
    return NWBDatasetSpec(
        name=name,
        doc=doc,
        dtype="text",
        dims=["num_sounds"],
        shape=[None],
        quantity="?",
    )


def _encoding_model_datasets() -> list[NWBDatasetSpec]:
    """The model's documents (architecture, training parameters, versions), the sounds of
    each role in training and the units it predicts."""
    return [
        NWBDatasetSpec(
            name="architecture",
            doc="JSON document of the architecture, in the package's layer vocabulary.",
            dtype="text",
        ),
        NWBDatasetSpec(
            name="training_parameters",
            doc="JSON document of the training parameters.",
            dtype="text",
            quantity="?",
        ),
        NWBDatasetSpec(
            name="package_versions",
            doc="JSON document mapping package name to version at training time.",
            dtype="text",
            quantity="?",
        ),
        _sound_names("estimation_sounds", "Names of the sounds the model was fit on."),
        _sound_names("early_stopping_sounds", "Names of the sounds used for early stopping."),
        _sound_names("validation_sounds", "Names of the sounds the scores were computed on."),
        _units_region("Rows of the Units table the model predicts, in output order."),
    ]


def _encoding_model_groups() -> list[NWBGroupSpec]:
    """The model's parameter tensors, training log and scores."""
    return [
        NWBGroupSpec(
            name="parameters",
            doc="Every tensor of the model's state, one dataset per key.",
            datasets=[
                NWBDatasetSpec(
                    neurodata_type_inc="ModelParameter",
                    doc="One tensor of the model's state.",
                    quantity="*",
                )
            ],
        ),
        NWBGroupSpec(
            name="training_log",
            neurodata_type_inc="TrainingLog",
            doc="Loss per epoch during training.",
            quantity="?",
        ),
        NWBGroupSpec(
            name="scores",
            neurodata_type_inc="ModelScoresTable",
            doc="Prediction scores, one row per output.",
            quantity="?",
        ),
    ]


def encoding_models() -> NWBGroupSpec:
    """EncodingModels: several models, e.g. a jackknife ensemble."""
    return NWBGroupSpec(
        neurodata_type_def="EncodingModels",
        neurodata_type_inc="NWBDataInterface",
        doc=(
            "A collection of encoding models: a jackknife ensemble, a baseline, or one "
            "subspace nonlinearity per unit."
        ),
        attributes=[_attr("description", "Description of the collection.", "text")],
        groups=[
            NWBGroupSpec(
                neurodata_type_inc="EncodingModel", doc="One model.", quantity="*",
            )
        ],
    )


def tuning_subspace_table() -> NWBGroupSpec:
    """TuningSubspaceTable: the per-unit PCA of dSTRFs."""
    filt_dims = ["num_filters", *FREQ_LAG_DIMS]
    return NWBGroupSpec(
        neurodata_type_def="TuningSubspaceTable",
        neurodata_type_inc="DynamicTable",
        doc=(
            "Tuning subspace of each unit: principal components of its dynamic STRFs (model "
            "gradients), one row per unit."
        ),
        attributes=[_parameters_attr()],
        datasets=[
            _units_region("The unit of each row.", quantity=1),
            _column("filters", "Subspace filters (the first k components), frequency x lag.",
                    "float32", filt_dims, [None, None, None]),
            _index("filters"),
            _column("explained_variance",
                    "Fraction of the dSTRF variance explained by every component computed.",
                    "float64"),
            _index("explained_variance"),
            _column("noise_floor_variance",
                    "Explained-variance fraction of every component after shuffling each "
                    "frequency-lag element across samples (the noise floor).",
                    "float64"),
            _index("noise_floor_variance"),
            _column("k", "Subspace dimension: number of filters kept.", "int32"),
            _column("threshold", "Cumulative explained-variance threshold: k reaches it where the "
                    "parameters' k_rule is 'variance'; with 'significance', k counts the components "
                    "above the noise floor and this threshold only that rule's alternative.",
                    "float64"),
            _column("k90", "Components reaching 90% of the variance of the components computed.",
                    "int32", required=False),
            _column("k95", "Components reaching 95% of the variance of the components computed.",
                    "int32", required=False),
            _column("mean_dstrf", "Mean dynamic STRF, frequency x lag.", "float32",
                    ["num_units", *FREQ_LAG_DIMS], [None, None, None]),
            _column("n_samples", "Number of dSTRF samples used after outlier removal.",
                    "int64", required=False),
            _column("n_outliers", "Number of dSTRF samples dropped as outliers.", "int64",
                    required=False),
            _column("k_significant",
                    "Number of leading components whose explained-variance fraction exceeds "
                    "the noise floor's (0 when no noise floor was computed).", "int32",
                    required=False),
            _column("reliability",
                    "Stability of the unit's subspace, in [0, 1]: the mean squared cosine of "
                    "the principal angles between the subspaces of the ensemble's members "
                    "(or of two halves of the dSTRF samples), each of the first min(k, k_r) "
                    "components (k_r reaching the 'reliability_variance' fraction of the "
                    "unit's variance, see parameters), averaged over pairs; NaN when not "
                    "measured.", "float64", required=False),
            _column("reliability_rule",
                    "How the reliability was measured: 'members' (the ensemble's members "
                    "compared pairwise), 'split_halves' (the first and second half of the "
                    "dSTRF samples) or 'unknown'.", "text", required=False),
            _column("dimension_confidence",
                    "Confidence of every component computed, in [0, 1]: the significance "
                    "of its variance over the noise floor times its stability across the "
                    "members (or halves).", "float64", required=False),
            _index("dimension_confidence", required=False),
        ],
        links=[
            NWBLinkSpec(
                name="source_models",
                target_type="EncodingModels",
                doc="The model(s) whose gradients gave the dSTRFs.",
                quantity="?",
            )
        ],
    )


def subspace_nonlinearity_table() -> NWBGroupSpec:
    """SubspaceNonlinearityTable: nonlinearity, SSRF and tuning curves per unit."""
    return NWBGroupSpec(
        neurodata_type_def="SubspaceNonlinearityTable",
        neurodata_type_inc="DynamicTable",
        doc=(
            "Response of each unit as a function of its stimulus projections onto its tuning "
            "subspace: fitted nonlinearity model, subspace receptive field (SSRF) maps, 1-D "
            "tuning curves and asymmetry index per dimension. One row per unit."
        ),
        attributes=[
            _attr("min_count", "Bins with fewer samples than this are masked (NaN).", "int32"),
            _parameters_attr(),
        ],
        datasets=[
            _units_region("The unit of each row.", quantity=1),
            NWBDatasetSpec(
                name="model",
                doc="The fitted subspace nonlinearity model of the unit.",
                dtype=NWBRefSpec(target_type="EncodingModel", reftype="object"),
                neurodata_type_inc="VectorData",
                quantity="?",
            ),
            _column("dimension_sign",
                    "Sign applied to each subspace dimension so that its projection correlates "
                    "positively with the response.", "int8"),
            _index("dimension_sign"),
            _column("asymmetry_index", "Asymmetry index of the response along each dimension.",
                    "float64"),
            _index("asymmetry_index"),
            _column("tuning_bin_edges", "Bin edges of the 1-D tuning curve of each dimension.",
                    "float64", ["num_dimensions", "num_edges"], [None, None]),
            _index("tuning_bin_edges"),
            _column("tuning_mean", "Mean response per bin, each dimension.", "float64",
                    ["num_dimensions", "num_bins"], [None, None]),
            _index("tuning_mean"),
            _column("tuning_sem", "Standard error of the mean response per bin.", "float64",
                    ["num_dimensions", "num_bins"], [None, None]),
            _index("tuning_sem"),
            _column("tuning_count", "Number of samples per bin.", "int64",
                    ["num_dimensions", "num_bins"], [None, None]),
            _index("tuning_count"),
            _column("ssrf_bin_edges", "Bin edges of the SSRF maps along each dimension.",
                    "float64", ["num_dimensions", "num_edges"], [None, None]),
            _index("ssrf_bin_edges"),
            # the maps are absent where no unit has two dimensions (a map is a pair of them)
            _column("ssrf_pairs", "Dimensions (0-based) of each SSRF map: rows, columns. Absent "
                    "when no row has a map (every unit of one dimension).",
                    "int32", ["num_maps", "pair"], [None, 2], required=False),
            _index("ssrf_pairs", required=False),
            _column("ssrf_mean", "Mean response per 2-D bin of each map; NaN where masked.",
                    "float64", ["num_maps", "num_bins_a", "num_bins_b"], [None, None, None],
                    required=False),
            _index("ssrf_mean", required=False),
            _column("ssrf_count", "Number of samples per 2-D bin of each map.", "int64",
                    ["num_maps", "num_bins_a", "num_bins_b"], [None, None, None], required=False),
            _index("ssrf_count", required=False),
        ],
    )


def site_subspace() -> NWBGroupSpec:
    """SiteSubspace: the shared subspace of a site and the local-circuit analyses."""
    n_units = ["num_units", "num_units"]
    return NWBGroupSpec(
        neurodata_type_def="SiteSubspace",
        neurodata_type_inc="NWBDataInterface",
        doc=(
            "Shared tuning subspace of the units of one site (PCA of their pooled dSTRFs), "
            "sparse tiling of that subspace and pairwise subspace similarity."
        ),
        attributes=[
            _attr("description", "Description of the analysis.", "text"),
            _attr("similarity_measure",
                  "How subspace_similarity was computed, e.g. 'mean squared cosine of the "
                  "principal angles'.", "text", required=False),
            _parameters_attr(),
        ],
        datasets=[
            _units_region("Units of the site, in the order of the per-unit datasets."),
            NWBDatasetSpec(name="filters", doc="Shared site filters, frequency x lag.",
                           dtype="float32", dims=["num_filters", *FREQ_LAG_DIMS],
                           shape=[None, None, None]),
            NWBDatasetSpec(name="explained_variance",
                           doc="Fraction of the pooled dSTRF variance explained by each "
                               "component.",
                           dtype="float64", dims=["num_components"], shape=[None]),
            NWBDatasetSpec(name="mean_dstrf", doc="Mean of the pooled dSTRFs.", dtype="float32",
                           dims=FREQ_LAG_DIMS, shape=[None, None], quantity="?"),
            NWBDatasetSpec(name="response_region_size",
                           doc="Fraction of the tiling volume in which each unit's response "
                               "exceeds half its maximum.",
                           dtype="float64", dims=["num_units"], shape=[None], quantity="?"),
            NWBDatasetSpec(name="region_overlap",
                           doc="Pairwise overlap of the units' response regions.",
                           dtype="float64", dims=n_units, shape=[None, None], quantity="?"),
            NWBDatasetSpec(name="subspace_similarity",
                           doc="Pairwise similarity of the units' tuning subspaces.",
                           dtype="float64", dims=n_units, shape=[None, None], quantity="?"),
            NWBDatasetSpec(name="response_regions",
                           doc="Each unit's response region on the tiling grid.",
                           dtype="bool", dims=["num_units", "x", "y", "z"],
                           shape=[None, None, None, None], quantity="?"),
            NWBDatasetSpec(name="tiling_bin_edges",
                           doc="Edges of the tiling grid along each shared dimension.",
                           dtype="float64", dims=["num_dimensions", "num_edges"],
                           shape=[None, None], quantity="?"),
        ],
    )


def build_types() -> list:
    """Every new type, in the order they are written."""
    return [
        spectrogram_series(),
        model_parameter(),
        training_log(),
        model_scores_table(),
        encoding_model(),
        encoding_models(),
        tuning_subspace_table(),
        subspace_nonlinearity_table(),
        site_subspace(),
    ]


def main(output_dir: Path) -> None:
    """Write the namespace and extensions YAML into ``output_dir``."""
    ns_builder = NWBNamespaceBuilder(
        name=NAMESPACE,
        version=VERSION,
        doc=(
            "Encoding models of sensory neurons, their dynamic STRFs and tuning subspaces, "
            "subspace receptive fields and local-circuit analyses."
        ),
        author=["ndx-encoding-subspace developers"],
        contact=["ndx-encoding-subspace@users.noreply.github.com"],
    )
    for neurodata_type in ("TimeSeries", "NWBDataInterface", "NWBData"):
        ns_builder.include_type(neurodata_type, namespace="core")
    for data_type in ("DynamicTable", "VectorData", "VectorIndex", "DynamicTableRegion"):
        ns_builder.include_type(data_type, namespace="hdmf-common")
    output_dir.mkdir(parents=True, exist_ok=True)
    export_spec(ns_builder, build_types(), str(output_dir))


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[2] / "spec"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
