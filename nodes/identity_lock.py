"""IdentityLock: turns face references into one identity, or loads a saved one."""
from __future__ import annotations

from pathlib import Path

from canvas_app.errors import BadInput
from canvas_app.graph import NodeSpec, NodeType, ParamSpec, PortSpec
from canvas_app.graph.spec import Placement
from canvas_app.graph.types import IDENTITY, IMAGES
from canvas_app.values import FACE_ROLES

ENCODER_CHOICES = ("dlib", "insightface", "dlib+insightface")


def summarize(params) -> list[str]:
    source = params.get("source")
    detail = params.get("encoders") if source == "references" else \
        (params.get("identity_file") or "").rsplit("/", 1)[-1] if source == "file" \
        else params.get("library_name")
    return [f"{source}: {detail or '—'}"]


class IdentityLock(NodeType):
    spec = NodeSpec(
        type_name="IdentityLock", version=1, title="Identity Lock", category="Identity",
        description="Detects, aligns and embeds the face in each face/profile reference and "
                    "combines them into one identity; or loads a saved identity.",
        inputs=(PortSpec("references", IMAGES, "References", optional=True),),
        outputs=(PortSpec("identity", IDENTITY, "Identity"),),
        params=(
            ParamSpec("source", "choice", "references", choices=("references", "file", "library"),
                      help="Build from the connected references, or load a saved identity."),
            ParamSpec("name", "str", "", help="Identity name; the node title when empty."),
            ParamSpec("encoders", "choice", "dlib", choices=ENCODER_CHOICES,
                      help="dlib is embedded (no download). insightface (ArcFace) needs a model "
                           "pack and is required for IP-Adapter FaceID generation."),
            ParamSpec("insightface_pack", "str", "buffalo_l",
                      enabled_when=(("encoders", ("insightface", "dlib+insightface")),),
                      help="insightface model pack folder name (non-commercial licence)."),
            ParamSpec("face_index", "int", -1, minimum=-1, maximum=64,
                      enabled_when=(("source", ("references",)),),
                      help="Which face to use when a reference shows several; -1 = the largest."),
            ParamSpec("identity_file", "file", "", label="Identity file",
                      file_filter="Identity files (*.safetensors)",
                      enabled_when=(("source", ("file",)),),
                      help="Used when source is 'file'."),
            ParamSpec("library_name", "str", "", enabled_when=(("source", ("library",)),),
                      help="Used when source is 'library': an identity in the project's or "
                           "your identity library."),
            ParamSpec("save_to_library", "bool", False,
                      help="Also save the built identity in the project's identity library."),
        ),
        summary=summarize,
    )

    def run(self, inputs, params, ctx):
        import canvas_app.identity as identity_api

        node = ctx.node_title or ctx.node_id
        source = params["source"]
        if source == "file":
            if not params["identity_file"]:
                raise BadInput("choose an identity file", node=node, field="identity_file")
            identity = identity_api.load_identity(Path(params["identity_file"]))
        elif source == "library":
            identity = self._from_library(params["library_name"], ctx, node)
        else:
            references = inputs.get("references")
            faces = references.with_roles(*FACE_ROLES) if references is not None else []
            if not faces:
                raise BadInput("connect a Reference node with at least one face or profile image",
                               node=node, field="references")
            encoders = ["dlib"] if params["encoders"] == "dlib" else \
                [f"insightface/{params['insightface_pack']}"] if params["encoders"] == "insightface" \
                else ["dlib", f"insightface/{params['insightface_pack']}"]
            face_index = None if params["face_index"] < 0 else params["face_index"]
            try:
                identity = identity_api.build_identity(params["name"] or ctx.node_title or "identity",
                                                       faces, encoders=tuple(encoders),
                                                       face_index=face_index, ctx=ctx)
            except BadInput as error:
                error.node = error.node or node
                raise
            if params["save_to_library"]:
                self._project_library(ctx).save(identity, overwrite=True)
        return {"identity": identity}

    def placement(self, params):
        """From references with the embedded encoder: pure computation, a CPU
        task anywhere. A file, a library or insightface packs live here."""
        if params.get("source") == "references" and params.get("encoders") == "dlib" \
                and not params.get("save_to_library"):
            return Placement.CPU
        return Placement.LOCAL

    def check_inputs(self, params):
        """A chosen identity file must be a sound one before the run starts."""
        from canvas_app.errors import BadInput
        from canvas_app.identity import load_identity

        problems = super().check_inputs(params)
        if params.get("source") == "file" and params.get("identity_file") \
                and Path(params["identity_file"]).exists():
            try:
                load_identity(Path(params["identity_file"]))
            except BadInput as error:
                problems.append(("identity_file", str(error)))
        return problems

    def save_result(self, outputs, folder):
        from canvas_app.identity import save_identity

        save_identity(outputs["identity"], Path(folder) / "identity.safetensors")
        return True

    def load_result(self, folder):
        from canvas_app.identity import load_identity

        return {"identity": load_identity(Path(folder) / "identity.safetensors")}

    @staticmethod
    def _project_library(ctx):
        from canvas_app.identity import IdentityLibrary, user_library

        if ctx.project_dir is not None:
            return IdentityLibrary(Path(ctx.project_dir) / "identities")
        return user_library()

    def _library_with(self, name, ctx):
        """The project's library if it has `name`, else the user's, else None."""
        from canvas_app.identity import user_library

        for library in (self._project_library(ctx), user_library()):
            if name in library:
                return library
        return None

    def _from_library(self, name, ctx, node):
        if not name:
            raise BadInput("enter the name of a saved identity", node=node, field="library_name")
        library = self._library_with(name, ctx)
        if library is None:
            raise BadInput(f"no identity named {name!r} in the project's or your identity library",
                           node=node, field="library_name")
        return library.load(name)

    def input_files(self, params):
        return [Path(params["identity_file"])] if params["source"] == "file" and \
            params["identity_file"] else []

    def cache_key_extra(self, params, ctx):
        # A library identity can change on disk under the same name.
        if params["source"] == "library" and params["library_name"]:
            from canvas_app.fileio import file_stamp

            library = self._library_with(params["library_name"], ctx)
            return str(file_stamp(library.path_for(params["library_name"]))) if library else "missing"
        extra = "" if params["name"] else ctx.node_title  # the title names the identity
        if "insightface" in params["encoders"]:  # where the face models are
            from canvas_app.identity.model_paths import resolve_models_dir

            extra += f";models={resolve_models_dir(None)}"
        return extra
