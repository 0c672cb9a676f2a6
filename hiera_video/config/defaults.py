"""Default configuration: every key a run may set, with PySlowFast's names.

A run's configuration is these defaults, merged with a YAML file (which may name
a ``_BASE_`` file to start from) and then with ``KEY VALUE`` overrides; see
:func:`hiera_video.config.load_config`. Keys not defined here are rejected.

Units: frames for ``DATA.NUM_FRAMES``, source frames at ``DATA.TARGET_FPS`` for
``DATA.SAMPLING_RATE``, pixels for crop sizes, epochs for schedules.
"""

from fvcore.common.config import CfgNode

_C = CfgNode()

# GPUs per process: 1 (a GPU) or 0 (the CPU). For N GPUs launch N processes (torchrun --nproc_per_node N, or
# tools/submit_slurm.py): each drives one GPU and the world size comes from the launcher.
_C.NUM_GPUS = 1
# Where checkpoints, stats, TensorBoard files and test reports go.
_C.OUTPUT_DIR = "./output"
_C.RNG_SEED = 0
# Iterations between log lines / progress-bar postfix updates / TensorBoard scalars.
_C.LOG_PERIOD = 10
# Write TensorBoard scalars (loss, lr, grad norm, top-1, clips/s) to OUTPUT_DIR/tensorboard.
_C.TENSORBOARD = True
# Distributed backend for torch.distributed ("nccl" on GPUs, "gloo" on CPU).
_C.DIST_BACKEND = "nccl"
# How long (minutes) a collective waits for the other processes before the run fails with a timeout (e.g. while
# rank 0 writes a checkpoint of a large model); PyTorch's own NCCL default is 10.
_C.DIST_TIMEOUT_MINUTES = 30
# TF32 tensor cores for fp32 matmuls and convolutions on CUDA (Ampere and newer; the fp32 parts of mixed precision and
# TRAIN.PRECISION / TEST.PRECISION fp32): about 10 mantissa bits in the products, fp32 accumulation. False: full fp32.
_C.CUDA_TF32 = True
# What the run optimises and predicts: a registered task (hiera_video.engine.tasks: "classification", "mae",
# "detection").
_C.TASK = "classification"

# ---------------------------------------------------------------------------- train
_C.TRAIN = CfgNode()
_C.TRAIN.ENABLE = True
_C.TRAIN.DATASET = "kinetics"
# Videos per forward/backward pass, summed over all processes (as in PySlowFast): each process takes
# BATCH_SIZE / world size, times AUG.NUM_SAMPLE x DATA.TRAIN_CROP_NUM_TEMPORAL clips; an optimizer step
# sees TRAIN.GRAD_ACCUM_STEPS such passes.
_C.TRAIN.BATCH_SIZE = 8
# Validate (single view) every this many epochs; 0 disables.
_C.TRAIN.EVAL_PERIOD = 1
# Write a checkpoint every this many epochs.
_C.TRAIN.CHECKPOINT_PERIOD = 1
# Keep only the newest this many epoch checkpoints (0 keeps all); checkpoint_best.pyth (the best
# validation top-1 so far) is kept besides them.
_C.TRAIN.CHECKPOINT_KEEP = 5
# Resume from the newest checkpoint in OUTPUT_DIR/checkpoints when one exists.
_C.TRAIN.AUTO_RESUME = True
# Weights to start from (fine-tuning): anything hiera_video.models.read_weights reads: an official or our .pth /
# .pyth, a .safetensors file, a folder with config.json + model.safetensors, hf-hub:ORG/NAME, or a URL.
_C.TRAIN.CHECKPOINT_FILE_PATH = ""
# Training precision: "auto" (bf16 autocast where bf16 is native: GPUs with bf16 (Ampere and newer) and CPUs with AMX;
# fp16 autocast with a gradient scaler on older GPUs; fp32 on other CPUs), or "bf16", "fp16" (with the gradient
# scaler), "fp32" on any device.
_C.TRAIN.PRECISION = "auto"
# Forward/backward passes per optimizer step: a step sees TRAIN.BATCH_SIZE x GRAD_ACCUM_STEPS
# clips (x AUG.NUM_SAMPLE), and SOLVER.BASE_LR is the learning rate of that step.
_C.TRAIN.GRAD_ACCUM_STEPS = 1

# ---------------------------------------------------------------------------- test
_C.TEST = CfgNode()
_C.TEST.ENABLE = True
_C.TEST.DATASET = "kinetics"
# Clips (views) per forward pass, summed over all processes.
_C.TEST.BATCH_SIZE = 8
# Temporal clips per video (PySlowFast's offset sampling, start to end).
_C.TEST.NUM_ENSEMBLE_VIEWS = 5
# Spatial crops per temporal clip: 1 (centre) or 3 (left/centre/right or top/centre/bottom).
_C.TEST.NUM_SPATIAL_CROPS = 3
# Weights to test (the same sources as TRAIN.CHECKPOINT_FILE_PATH); empty uses the newest training checkpoint
# in OUTPUT_DIR.
_C.TEST.CHECKPOINT_FILE_PATH = ""
# Test even when the head would be random: no checkpoint to test, or one whose head does not fit
# MODEL.NUM_CLASSES (an MAE checkpoint, another class count). Off: such a test-only run is an error.
_C.TEST.ALLOW_RANDOM_HEAD = False
# List file stem to test on: "test" reads {PATH_TO_DATA_DIR}/test.csv.
_C.TEST.SPLIT = "test"
# Per-view logits of the test: "auto" (test/view_logits.npz, float16, always; test/view_logits.csv too when there are
# at most 50,000 video x view rows), "npz", "csv", "both" or "none" (evaluation/view_logits.py). tools/report.py
# rebuilds and compares reports from the npz.
_C.TEST.SAVE_VIEW_LOGITS = "auto"
# Inference precision of test, validation and tools/demo_net.py: "auto" (CUDA: as TRAIN.PRECISION; CPU: bf16
# autocast only with AMX, else fp32: bf16 without AMX measured 0.66x as fast), "fp32", "bf16" or "fp16" (autocast).
_C.TEST.PRECISION = "auto"

# ---------------------------------------------------------------------------- data
_C.DATA = CfgNode()
# Folder holding train.csv, val.csv, test.csv.
_C.DATA.PATH_TO_DATA_DIR = ""
# Prefix joined to every relative path in the lists.
_C.DATA.PATH_PREFIX = ""
# Separator between path and label; "" accepts a comma or any whitespace.
_C.DATA.PATH_LABEL_SEPARATOR = ""
# Frames per clip fed to the model.
_C.DATA.NUM_FRAMES = 16
# Stride between sampled frames, in frames at TARGET_FPS.
_C.DATA.SAMPLING_RATE = 4
# Frame rate the sampling is defined at; indices are converted to the stream's real fps.
_C.DATA.TARGET_FPS = 30
# Train crop side (pixels) and the model's spatial input size.
_C.DATA.TRAIN_CROP_SIZE = 224
# Test: short side resized to this, then NUM_SPATIAL_CROPS square crops of this side.
_C.DATA.TEST_CROP_SIZE = 224
# Train spatial augmentation, as in PySlowFast: when TRAIN_JITTER_SCALES_RELATIVE is set,
# RandomResizedCrop with that area fraction and TRAIN_JITTER_ASPECT_RELATIVE aspect-ratio
# range; when it is empty ([]), the short side is resized to a random length in
# TRAIN_JITTER_SCALES (pixels, inclusive) and a random TRAIN_CROP_SIZE square is cut.
_C.DATA.TRAIN_JITTER_SCALES_RELATIVE = [0.08, 1.0]
_C.DATA.TRAIN_JITTER_ASPECT_RELATIVE = [0.75, 1.3333]
_C.DATA.TRAIN_JITTER_SCALES = [256, 320]
_C.DATA.RANDOM_FLIP = True
# Horizontal flip for datasets with left/right classes (SSv2): a flipped clip of a class whose
# name says "left" or "right" takes the class with the two words swapped; classes with no such
# counterpart are never flipped. Needs {PATH_TO_DATA_DIR}/classes.json. Off by default.
_C.DATA.LABEL_AWARE_FLIP = False
# Per-channel normalisation of pixels in [0, 1] (Hiera uses 0.45 / 0.225 on all channels).
_C.DATA.MEAN = [0.45, 0.45, 0.45]
_C.DATA.STD = [0.225, 0.225, 0.225]
# "pyav", "decord" or "torchcodec" (torchcodec needs FFmpeg's shared libraries on the system).
_C.DATA.DECODING_BACKEND = "pyav"
# What the split lists name: "video" (``path label`` lists of video files) or "frames"
# (PySlowFast frame lists ``original_vido_id video_id frame_id path labels`` of JPEG frames,
# as data_prep/extract_frames.py writes them).
_C.DATA.INPUT_FORMAT = "video"
# Rate (frames/s) the frames of a frame list were extracted at; sampling converts from it.
_C.DATA.FRAME_FPS = 30
# Stop with an error when more than this fraction of a split's videos fail to decode.
_C.DATA.MAX_BAD_FRACTION = 0.1
# If the lists in PATH_TO_DATA_DIR are missing, first write the synthetic motion dataset
# there (real encoded videos; hiera_video.prep.synthetic) with these videos per class for
# train, val and test. Used by the quickstart; off by default.
_C.DATA.MAKE_SYNTHETIC = False
_C.DATA.SYNTHETIC_VIDEOS_PER_CLASS = [40, 8, 16]
# Times a failing training sample is replaced by another; MAX_RETRIES + 1 failures in a row stop the run
# (after writing train_bad_videos.csv).
_C.DATA.MAX_RETRIES = 10
# Random temporal clips taken from each decoded training video (MAE-ST's repeated sampling); each is
# augmented AUG.NUM_SAMPLE times, so an item holds TRAIN_CROP_NUM_TEMPORAL x NUM_SAMPLE clips.
_C.DATA.TRAIN_CROP_NUM_TEMPORAL = 1

# ---------------------------------------------------------------------------- augmentation
# Train-time augmentation beyond crop and flip (PySlowFast's AUG.* keys, torchvision v2 ops).
_C.AUG = CfgNode()
# RandAugment and random erasing on (AUG.ENABLE); crop/flip are always on in training.
_C.AUG.ENABLE = False
# Clips augmented from each decoded video (repeated augmentation): the video is decoded once
# and transformed NUM_SAMPLE times, so a step sees TRAIN.BATCH_SIZE * NUM_SAMPLE clips.
_C.AUG.NUM_SAMPLE = 1
# timm-style RandAugment spec "rand-m{magnitude}-n{num_ops}[-mstd{std}][-inc{0|1}]"; the same
# ops and magnitude are applied to every frame of a clip. Empty disables RandAugment.
_C.AUG.AA_TYPE = "rand-m9-mstd0.5-inc1"
# Resampling of RandAugment's geometric ops: "bilinear" or "nearest" (torchvision's tensor
# kernels have no "bicubic", PySlowFast's PIL default).
_C.AUG.INTERPOLATION = "bilinear"
# Random erasing probability (0 disables), "pixel" (per-pixel normal noise) or "const" (zeros),
# and the number of boxes; the same boxes on every frame of a clip.
_C.AUG.RE_PROB = 0.25
_C.AUG.RE_MODE = "pixel"
_C.AUG.RE_COUNT = 1

# ---------------------------------------------------------------------------- mixup
# Mixup / CutMix on the training batch with soft-target cross-entropy (PySlowFast's MIXUP.*).
_C.MIXUP = CfgNode()
_C.MIXUP.ENABLE = False
# Beta(alpha, alpha) parameters of the mixing weight; 0 disables that method.
_C.MIXUP.ALPHA = 0.8
_C.MIXUP.CUTMIX_ALPHA = 1.0
# Probability that a batch is mixed at all, and that a mixed batch uses CutMix rather than Mixup.
_C.MIXUP.PROB = 1.0
_C.MIXUP.SWITCH_PROB = 0.5
# Label smoothing of the soft targets when MIXUP.ENABLE (MODEL.LABEL_SMOOTHING otherwise).
_C.MIXUP.LABEL_SMOOTH_VALUE = 0.1

# ---------------------------------------------------------------------------- loader
_C.DATA_LOADER = CfgNode()
_C.DATA_LOADER.NUM_WORKERS = 4
_C.DATA_LOADER.PIN_MEMORY = True
# Keep the loader workers alive for the whole run (training) and between the validations of a run, instead of
# starting them at every epoch and validation. Training draws stay exact on resume (workers are reseeded per epoch).
_C.DATA_LOADER.PERSISTENT_WORKERS = True

# ---------------------------------------------------------------------------- model
_C.MODEL = CfgNode()
# A name known to hiera_video.models.create_model, e.g. "hiera_large_16x224".
_C.MODEL.ARCH = "hiera_base_16x224"
# Activation checkpointing of every Hiera block in training (less memory, one more forward pass).
_C.MODEL.ACT_CHECKPOINT = False
# torch.compile the model for training (not for validation or testing); the first steps are slow while it
# compiles. Checkpoints keep the uncompiled model's keys. Works under DDP and with MODEL.ACT_CHECKPOINT.
_C.MODEL.COMPILE = False
# torch.compile backend (timm's --torchcompile): "inductor" (generated kernels), or e.g. "aot_eager" (no code
# generation: for checking a set-up quickly).
_C.MODEL.COMPILE_BACKEND = "inductor"
_C.MODEL.NUM_CLASSES = 400
# Stochastic depth rate, linearly increasing over blocks.
_C.MODEL.DROP_PATH_RATE = 0.0
# Dropout before the classification projection.
_C.MODEL.HEAD_DROPOUT = 0.0
# Label smoothing of the cross-entropy loss.
_C.MODEL.LABEL_SMOOTHING = 0.0

# Exponential moving average of the weights, updated after every optimizer step
# (ema = DECAY * ema + (1 - DECAY) * weights); validated and tested alongside the raw weights,
# saved in checkpoints and restored on resume.
_C.MODEL.EMA = CfgNode()
_C.MODEL.EMA.ENABLE = False
_C.MODEL.EMA.DECAY = 0.9999

# ---------------------------------------------------------------------------- masked autoencoder
# MAE pretraining with MODEL.ARCH mae_hiera_* (hiera_video.models.mae.MaskedAutoencoderHiera).
_C.MASK = CfgNode()
# Fraction of mask units dropped per clip; each keeps int(num_mask_units * (1 - RATIO)) units (paper: 0.9 for
# video, 0.6 for images).
_C.MASK.RATIO = 0.9
# Decoder blocks, width and heads (official 8 / 512 / 16).
_C.MASK.DECODER_DEPTH = 8
_C.MASK.DECODER_EMBED_DIM = 512
_C.MASK.DECODER_NUM_HEADS = 16
# Target: per-patch normalised pixels (official) or raw pixels (False).
_C.MASK.NORM_PIX_LOSS = True
# Epochs between reconstruction PNGs (input, masked input, reconstruction).
_C.MASK.VIS_PERIOD = 1

# ---------------------------------------------------------------------------- AVA (action detection)
# AVA v2.2 in PySlowFast's layout and key names (TRAIN.DATASET / TEST.DATASET "ava", TASK "detection"). Files:
# frames {FRAME_DIR}/{video_id}/{video_id}_{%06d}.jpg (numbered from 1, DATA.FRAME_FPS frames/s from second
# FRAME_START_SEC); frame lists {FRAME_LIST_DIR}/{TRAIN,TEST}_LISTS (header "original_vido_id video_id frame_id path
# labels", paths relative to FRAME_DIR); everything else in ANNOTATION_DIR.
_C.AVA = CfgNode()
_C.AVA.FRAME_DIR = ""
_C.AVA.FRAME_LIST_DIR = ""
_C.AVA.ANNOTATION_DIR = ""
_C.AVA.TRAIN_LISTS = ["train.csv"]
_C.AVA.TEST_LISTS = ["val.csv"]
# Ground-truth boxes for training (video_id,timestamp,x1,y1,x2,y2,action_id,person_id; normalised boxes).
_C.AVA.TRAIN_GT_BOX_LISTS = ["ava_train_v2.2.csv"]
# Detected person boxes added to the training boxes (PySlowFast CSVs, score in column 8), labelled with the actions
# of the ground-truth box they overlap at IoU >= AVA.TRAIN_PREDICT_BOX_IOU (else no action); [] = GT boxes only.
_C.AVA.TRAIN_PREDICT_BOX_LISTS = []
_C.AVA.TRAIN_PREDICT_BOX_IOU = 0.9
# Person proposals scored at test (and validation), kept at score >= DETECTION_SCORE_THRESH.
_C.AVA.TEST_PREDICT_BOX_LISTS = ["ava_val_predicted_boxes.csv"]
_C.AVA.DETECTION_SCORE_THRESH = 0.9
_C.AVA.EXCLUSION_FILE = "ava_val_excluded_timestamps_v2.2.csv"
_C.AVA.LABEL_MAP_FILE = "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
# Ground truth of the test list, scored by frame-mAP@0.5.
_C.AVA.GROUNDTRUTH_FILE = "ava_val_v2.2.csv"
# Validation during training scores PySlowFast's subset of the val keyframes (second % 4 == 0); True scores all.
_C.AVA.FULL_TEST_ON_VAL = False
# The second shown by frame 0 of every movie: 900 for AVA (frames extracted from 15:00); the keyframe of second s
# is frame (s - FRAME_START_SEC) * DATA.FRAME_FPS. Own videos prepared by data_prep/ava.py use 0.
_C.AVA.FRAME_START_SEC = 900
# Keep only keyframes of these seconds (inclusive) in training, as PySlowFast does for AVA (902-1798); [] keeps all.
_C.AVA.TRAIN_KEYFRAME_RANGE = [902, 1798]
# The frame-mAP's cap on detection rows per keyframe (0: none, as PySlowFast computes the published numbers).
_C.AVA.MAX_DETECTIONS_PER_FRAME = 0

# ---------------------------------------------------------------------------- detection head
_C.DETECTION = CfgNode()
# Set by TASK detection (kept for PySlowFast configs; the task is what turns the detector on).
_C.DETECTION.ENABLE = False
# torchvision.ops.roi_align's `aligned` (half-pixel offset, detectron2's default).
_C.DETECTION.ALIGNED = True
# Stride (pixels) of the feature map the boxes are pooled from: 16 (Hiera's third stage, or the last stage with its
# q-pool skipped) or 32 (the last stage).
_C.DETECTION.SPATIAL_SCALE_FACTOR = 16
# ROIAlign output side (cells), then max-pooled.
_C.DETECTION.ROI_XFORM_RESOLUTION = 7
# Initial probability of every class of a fresh head: its bias starts at log(p / (1 - p)) (RetinaNet's prior
# initialisation); 0 starts it at 0, as PySlowFast's head. A from-scratch backbone learns only with it (quickstart).
_C.DETECTION.HEAD_PRIOR_PROB = 0.0
# Model input [H, W] (pixels, multiples of 32): Hiera's position embeddings fix it at build; frames are resized to
# fit inside it keeping their aspect ratio and padded (test), or scale-jittered and cropped to it (train).
_C.DETECTION.INPUT_SIZE = [224, 384]

# ---------------------------------------------------------------------------- solver
_C.SOLVER = CfgNode()
# Learning rate at the end of warmup for TRAIN.BATCH_SIZE clips per step.
_C.SOLVER.BASE_LR = 1e-4
_C.SOLVER.MAX_EPOCH = 30
_C.SOLVER.WARMUP_EPOCHS = 5.0
_C.SOLVER.WARMUP_START_LR = 1e-6
# Cosine schedule floor.
_C.SOLVER.COSINE_END_LR = 1e-6
_C.SOLVER.OPTIMIZING_METHOD = "adamw"
_C.SOLVER.BETAS = [0.9, 0.999]
_C.SOLVER.WEIGHT_DECAY = 0.05
# No weight decay on biases, norms and position embeddings.
_C.SOLVER.ZERO_WD_1D_PARAM = True
# Clip the gradient L2 norm to this; 0 disables.
_C.SOLVER.CLIP_GRAD_L2NORM = 0.0
# Layer-wise learning-rate decay (fine-tuning): block i of n gets lr x LAYER_DECAY^(n - i), the
# patch embedding and position embeddings LAYER_DECAY^(n + 1), the final norm and head 1. 1.0 disables.
_C.SOLVER.LAYER_DECAY = 1.0


def get_cfg() -> CfgNode:
    """Return a fresh copy of the defaults (safe to mutate)."""
    return _C.clone()
