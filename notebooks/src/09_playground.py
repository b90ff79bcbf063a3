# %% [markdown]
# # Playground
#
# Everything the sampler exposes, on sliders: the two prompts, the audio weight, the
# warm start, the guidance scales, the number of steps and the seed. Press
# **Generate** to draw a sample and play it with the moving playhead.
#
# ## In your browser
#
# On the published page the playground below runs in your browser, in the miniature
# world: no kernel, no server. The book's build exported the miniature experts (with
# classifier-free guidance and the weighted mix inside one graph per step), the decoder
# and the two judges as ONNX graphs (`python -m itslib export-web`), and a few hundred
# lines of JavaScript run the same loop as `itslib.sampler.sample` on them with
# onnxruntime-web. At every step it draws the predicted clean spectrogram x0 through a
# quick linear stand-in for the decoder (fitted to it when the book is built); the
# real decoder draws the final picture, which Griffin-Lim plays and the two judges
# score. A seed draws the same starting noise as in Python, and the book's tests check
# that the browser's final spectrogram equals `world.pipeline(...)`'s within 1e-3. The
# first **Generate** downloads the models once; nothing you choose leaves your machine.

# %% tags=["remove-input"]
from IPython.display import HTML, display

from itslib.web import playground_html

display(HTML(playground_html()))

# %% [markdown]
# ## With a Python kernel
#
# The widgets below need a live Python kernel: open this chapter in Colab (rocket
# button) or in Jupyter, where they run the real models on a GPU or the miniature ones
# on a CPU. On the published page you see the sample drawn with the default settings
# below the controls.

# %%
import ipywidgets as widgets

from itslib.viz import show
from itslib.worlds import load_world

world = load_world(quiet=True)
pipe = world.pipeline
print(world.drawn_by())
first_image, first_audio = world.examples[0]
if world.closed_prompts:  # class names: pick from lists
    image_box = widgets.Dropdown(options=world.image_prompts, value=first_image,
                                 description="image")
    audio_box = widgets.Dropdown(options=world.audio_prompts, value=first_audio,
                                 description="audio")
else:  # free text for Stable Diffusion and Auffusion
    image_box = widgets.Text(value=first_image, description="image", layout={"width": "600px"})
    audio_box = widgets.Text(value=first_audio, description="audio", layout={"width": "600px"})
style = {"description_width": "110px"}
controls = {
    "audio_weight": widgets.FloatSlider(0.5, min=0, max=1, step=0.05, description="audio weight",
                                        style=style),
    "image_start": widgets.FloatSlider(0.1, min=0, max=0.9, step=0.05,
                                       description="image starts at", style=style),
    "audio_start": widgets.FloatSlider(0.0, min=0, max=0.9, step=0.05,
                                       description="audio starts at", style=style),
    "image_guidance": widgets.FloatSlider(10.0, min=0, max=20, step=0.5,
                                          description="image guidance", style=style),
    "audio_guidance": widgets.FloatSlider(10.0, min=0, max=20, step=0.5,
                                          description="audio guidance", style=style),
    "steps": widgets.IntSlider(100, min=10, max=200, step=10, description="steps", style=style),
    "seed": widgets.IntText(0, description="seed", style=style),
}
button = widgets.Button(description="Generate", button_style="primary")
output = widgets.Output()


def generate(_=None):
    settings = {name: control.value for name, control in controls.items()}
    with output:
        output.clear_output(wait=True)
        try:
            (result,) = pipe(image_box.value, audio_box.value, progress=False, **settings)
        except ValueError as err:  # e.g. both starts > 0: no expert active at step 0
            print(f"Not possible: {err}")
            return
        display(show(result))
        print(f"{result.params['unet_evaluations']} UNet evaluations, "
              f"{result.params['seconds']:.1f} s")


button.on_click(generate)
display(widgets.VBox([image_box, audio_box, *controls.values(), button, output]))

# %% [markdown]
# The sample with the default settings (the paper's):

# %%
(result,) = pipe(first_image, first_audio, seed=0, progress=False)
show(result)

# %% [markdown]
# Things to try:
#
# - slide **audio weight** to 0 and to 1: the two single-expert limits;
# - set **image starts at** to 0 and **audio starts at** to 0.1: an image-first warm
#   start, which in the paper raised the picture score and lowered the sound score;
# - lower both **guidance** scales to 1: the intersection gets blurry (chapter 3
#   explains why);
# - halve the **steps**: DDIM degrades gracefully, and the run takes half the time.
