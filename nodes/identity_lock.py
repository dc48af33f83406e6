"""IdentityLock: turns face references into one identity, or loads a saved one."""
from __future__ import annotations

from pathlib import Path

from canvas_app.errors import BadInput, NodeFailure
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
            encoders = self._encoders(params)
            face_index = None if params["face_index"] < 0 else params["face_index"]
            try:
                identity = identity_api.build_identity(params["name"] or ctx.node_title or "identity",
                                                       faces, encoders=tuple(encoders),
                                                       face_index=face_index, ctx=ctx)
            except BadInput as error:
                error.node = error.node or node
                raise
            if params["save_to_library"]:
                self._project_library(ctx.project_dir).save(identity, overwrite=True)
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
        source = params.get("source")
        if source == "file" and not params.get("identity_file"):
            problems.append(("identity_file", "choose an identity file"))
        if source == "file" and params.get("identity_file") \
                and Path(params["identity_file"]).exists():
            try:
                load_identity(Path(params["identity_file"]))
            except BadInput as error:
                problems.append(("identity_file", str(error)))
        if source == "library" and not params.get("library_name"):
            problems.append(("library_name", "enter the name of a saved identity"))
        if source == "references":
            name = params.get("name")
            if isinstance(name, str) and name and not name.strip():  # empty: the node's title
                problems.append(("name", "the identity needs a name"))
            problems += self._pack_problems(params)
        return problems

    @staticmethod
    def _pack_problems(params):
        """The insightface pack the encoders name must be installed."""
        from canvas_app.identity.insightface_encoder import missing_pack_error
        from canvas_app.identity.model_paths import pack_dir, pack_is_present

        if "insightface" not in str(params.get("encoders")):
            return []
        pack = str(params.get("insightface_pack"))
        try:
            if pack_is_present(pack_dir(pack)):
                return []
            error = missing_pack_error(pack, None)
        except BadInput as bad:  # CANVAS_APP_MODELS names ~nosuchuser
            error = bad
        return [("encoders", str(error))]

    def check_content(self, params, upstream, project_dir, title=""):
        """The face each reference is read for must be there (face_index within the
        faces found, at least one face), as the primary encoder finds it; a
        library identity must be in the project's or the user's library; one
        saved to the library needs a name it can be stored under."""
        if params.get("source") == "references" and params.get("save_to_library"):
            from canvas_app.identity import IdentityLibrary

            try:  # the name the run saves it under
                IdentityLibrary(".").path_for(params.get("name") or title or "identity")
            except BadInput as error:
                return [("name", error.args[0])]
        if params.get("source") == "library" and params.get("library_name"):
            name = params["library_name"]
            if self._library_with(name, project_dir) is None:
                return [("library_name", f"no identity named {name!r} in the project's or your "
                                         "identity library")]
            return []
        if params.get("source") != "references" or self._pack_problems(params):
            return []
        from canvas_app.identity.build import as_rgb_uint8, choose_face
        from canvas_app.identity.registry import get_encoder
        from canvas_app.media.images import load_reference

        entries = [entry for reference in upstream.get("references", ())
                   for entry in reference.get("images") or () if entry.get("role") in FACE_ROLES]
        index = params.get("face_index")
        index = None if not isinstance(index, int) or index < 0 else index
        where = ""
        try:
            encoder = get_encoder(self._encoders(params)[0]) if entries else None
            for entry in entries:
                where = f"{entry['path']}: "
                reference = load_reference(entry["path"], entry["role"])
                choose_face(encoder, as_rgb_uint8(reference.pixels), face_index=index)
        except BadInput as error:
            return [(error.field or "references", where + error.args[0])]
        except NodeFailure:  # no face encoder installed: the run says so, exit 1
            return []
        return []

    @staticmethod
    def _encoders(params) -> list[str]:
        pack = params["insightface_pack"]
        return ["dlib"] if params["encoders"] == "dlib" else [f"insightface/{pack}"] \
            if params["encoders"] == "insightface" else ["dlib", f"insightface/{pack}"]

    def save_result(self, outputs, folder):
        from canvas_app.identity import save_identity

        save_identity(outputs["identity"], Path(folder) / "identity.safetensors")
        return True

    def load_result(self, folder):
        from canvas_app.identity import load_identity

        return {"identity": load_identity(Path(folder) / "identity.safetensors")}

    @staticmethod
    def _project_library(project_dir):
        from canvas_app.identity import IdentityLibrary, user_library

        if project_dir is not None:
            return IdentityLibrary(Path(project_dir) / "identities")
        return user_library()

    def _library_with(self, name, project_dir):
        """The project's library if it has `name`, else the user's, else None."""
        from canvas_app.identity import user_library

        for library in (self._project_library(project_dir), user_library()):
            if name in library:
                return library
        return None

    def _from_library(self, name, ctx, node):
        if not name:
            raise BadInput("enter the name of a saved identity", node=node, field="library_name")
        library = self._library_with(name, ctx.project_dir)
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

            library = self._library_with(params["library_name"], ctx.project_dir)
            return str(file_stamp(library.path_for(params["library_name"]))) if library else "missing"
        extra = "" if params["name"] else ctx.node_title  # the title names the identity
        if "insightface" in params["encoders"]:  # where the face models are
            from canvas_app.identity.model_paths import resolve_models_dir

            extra += f";models={resolve_models_dir(None)}"
        return extra
