"""scenetools: the Scene study (IRM vs ERM on camera traps, explained with LIME) as Unix commands.

The pipeline's stages, one module each:

    synth     a procedurally drawn demo world in COCO Camera Traps format
    datasets  readers for COCO Camera Traps, WILDS iWildCam and folder trees
    split     images -> record stream with environments and train/val/test
    backbones frozen ImageNet feature extractors and their preprocessing
    features  cached feature extraction shared by every command
    algorithms ERM, IRM, VREx, GroupDRO: one small class each
    train     fit a head on cached features, select a checkpoint, save the model
    predict   add each model's prediction to the stream
    evaluate  accuracy, baselines, per-class metrics per model and environment
    explain   LIME superpixel explanations for every model from one perturbation set
    render    the static Scene site

``stream`` holds the JSON Lines contract; ``cli`` the thin command-line layer.
"""
__version__ = "0.1.0"
