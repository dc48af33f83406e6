"""Two-stage shots on today's open models: a keyframe still, then motion from it.

`stages.py` holds the requests and the backend registries the Keyframe and
Motion nodes use; `animatic_stages.py` is the CPU path that needs no weights;
`flux2_klein.py` and `wan_i2v.py` drive the diffusers pipelines;
`latent_previews.py` turns flow-matching latents into step previews. Nothing
here imports torch or diffusers at module level.
"""
