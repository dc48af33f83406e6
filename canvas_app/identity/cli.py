"""`canvas-app identity ...` subcommands.

The main CLI calls `add_identity_commands(subparsers)` and later
`args.handler(args)`; every handler returns an exit code and raises BadInput
for anything the user can fix (the main CLI prints it and exits 2).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from canvas_app.errors import BadInput
from canvas_app.values import FACE_ROLES


def add_identity_commands(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "identity", help="build, inspect and score face identities",
        description="Build identities from face photos, keep them in a library, and score "
                    "how much images or videos look like them.")
    commands = parser.add_subparsers(dest="identity_command", metavar="COMMAND", required=True)

    create = commands.add_parser(
        "create", help="build an identity from face photos",
        description="Build an identity from one or more photos of the same person. Mark a "
                    "photo's role with IMAGE:profile (default IMAGE:face).")
    create.add_argument("name", metavar="NAME", help="identity name")
    create.add_argument("images", metavar="IMAGE[:ROLE]", nargs="+",
                        help="reference photo, optionally with :face or :profile")
    create.add_argument("-o", "--output", metavar="FILE", type=Path,
                        help="identity file to write (.safetensors)")
    create.add_argument("--encoder", dest="encoders", action="append", metavar="ENCODER",
                        help="dlib (default, embedded) or insightface/<pack> (non-commercial "
                             "research licence); repeat for several")
    create.add_argument("--role", dest="roles", action="append", choices=FACE_ROLES,
                        help="role for every image (once) or for each image in order")
    create.add_argument("--face-index", type=int, default=None, metavar="N",
                        help="which face to use when a photo shows several, counted from the "
                             "left from 0 (default: the largest)")
    create.add_argument("--models-dir", type=Path, default=None,
                        help="folder holding models/<pack>/*.onnx (default: $CANVAS_APP_MODELS "
                             "or the user data folder)")
    create.add_argument("--save-to-library", action="store_true",
                        help="also save the identity in the identity library")
    create.add_argument("--library", type=Path, default=None, help="library folder")
    create.add_argument("--overwrite", action="store_true",
                        help="replace an identity of the same name in the library")
    create.set_defaults(handler=_create)

    score = commands.add_parser("score", help="score images or videos against an identity "
                                              "(prints JSON)")
    score.add_argument("identity_file", metavar="IDENTITY_FILE", type=Path)
    score.add_argument("media", metavar="MEDIA", nargs="+", type=Path,
                       help="image or video files; each is one shot")
    score.add_argument("--conditioned-encoder", default=None, metavar="ENCODER",
                       help="the encoder that conditioned generation; another one scores "
                            "when the identity has one")
    score.add_argument("--max-samples", type=int, default=8, metavar="N",
                       help="frames sampled evenly per video (default 8)")
    score.add_argument("--models-dir", type=Path, default=None)
    score.set_defaults(handler=_score)

    listing = commands.add_parser("list", help="list the identities in a library")
    listing.add_argument("--library", type=Path, default=None)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", help="show one identity of a library")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--library", type=Path, default=None)
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_show)

    delete = commands.add_parser("delete", help="delete an identity from a library")
    delete.add_argument("name", metavar="NAME")
    delete.add_argument("--library", type=Path, default=None)
    delete.set_defaults(handler=_delete)

    download = commands.add_parser(
        "download-pack", help="download an insightface model pack (non-commercial licence)",
        description="Download an insightface model pack such as buffalo_l into the models "
                    "folder. insightface's pretrained packs are licensed for NON-COMMERCIAL "
                    "RESEARCH USE ONLY.")
    download.add_argument("pack", nargs="?", default="buffalo_l", metavar="PACK")
    download.add_argument("--models-dir", type=Path, default=None)
    download.add_argument("--accept-non-commercial-license", action="store_true",
                          help="confirm that your use is non-commercial research")
    download.set_defaults(handler=_download_pack)

    encoders = commands.add_parser("encoders", help="list the face encoders that can run here")
    encoders.add_argument("--models-dir", type=Path, default=None)
    encoders.set_defaults(handler=_encoders)
    return parser


# ----------------------------------------------------------------------------- helpers

def _library(folder: Path | None):
    from canvas_app.identity.library import IdentityLibrary, user_library

    return IdentityLibrary(folder) if folder is not None else user_library()


def split_image_role(text: str) -> tuple[str, str | None]:
    """"photo.jpg:profile" -> ("photo.jpg", "profile"); "C:\\a.jpg" keeps its drive."""
    head, sep, tail = text.rpartition(":")
    if sep and head and tail in FACE_ROLES:
        return head, tail
    return text, None


def _references(images: list[str], roles: list[str] | None):
    from canvas_app.media.images import load_reference

    if roles and len(roles) not in (1, len(images)):
        raise BadInput(f"give --role once for all images or once per image ({len(images)}), "
                       f"not {len(roles)} times", field="--role")
    references = []
    for position, text in enumerate(images):
        path, role = split_image_role(text)
        if role is None:
            role = (roles[0] if len(roles) == 1 else roles[position]) if roles else "face"
        references.append(load_reference(Path(path), role, field="IMAGE"))
    return references


def _identity_summary(identity, path: str | None = None) -> dict:
    return {
        "name": identity.name,
        "id": identity.identity_id,
        "created": identity.created,
        "encoders": {name: int(vector.size) for name, vector in identity.embeddings.items()},
        "path": path,
        "notes": identity.notes,
        "portrait": None if identity.portrait is None else list(identity.portrait.shape[:2]),
        "samples": [{
            "source": sample.source_name,
            "role": sample.role,
            "included": sample.included,
            "quality": round(sample.quality, 3),
            "similarity": round(sample.similarity, 3),
            "note": sample.note,
        } for sample in identity.samples],
    }


def _print_identity(identity, path: str | None) -> None:
    summary = _identity_summary(identity, path)
    print(f"{summary['name']}  id {summary['id']}  created {summary['created']}")
    print("encoders: " + ", ".join(f"{name} ({size}-d)" for name, size in
                                   summary["encoders"].items()))
    if path:
        print(f"file: {path}")
    for sample in summary["samples"]:
        state = "used    " if sample["included"] else "LEFT OUT"
        print(f"  {state} {sample['source']} [{sample['role']}] quality {sample['quality']:.2f} "
              f"similarity {sample['similarity']:.2f}" + (f"  ({sample['note']})"
                                                         if sample["note"] else ""))
    if summary["notes"]:
        print(f"notes: {summary['notes']}")


# ----------------------------------------------------------------------------- handlers

def _create(args) -> int:
    from canvas_app.identity.build import build_identity
    from canvas_app.identity.files import save_identity

    if args.output is None and not args.save_to_library:
        raise BadInput("say where the identity goes: -o FILE and/or --save-to-library",
                       field="--output")
    references = _references(args.images, args.roles)
    identity = build_identity(args.name, references, encoders=tuple(args.encoders or ["dlib"]),
                              face_index=args.face_index, models_dir=args.models_dir)
    written = []
    if args.output is not None:
        written.append(str(save_identity(identity, args.output)))
    if args.save_to_library:
        written.append(str(_library(args.library).save(identity, overwrite=args.overwrite)))
    _print_identity(identity, ", ".join(written))
    return 0


def _score(args) -> int:
    from canvas_app.identity.files import load_identity
    from canvas_app.identity.scoring import score_media, summarize

    if args.max_samples < 1:
        raise BadInput("--max-samples must be at least 1", field="--max-samples")
    identity = load_identity(args.identity_file)
    scores = score_media(identity, args.media, conditioned_encoder=args.conditioned_encoder,
                         max_samples=args.max_samples, models_dir=args.models_dir)
    report = {"identity": identity.name, "identity_id": identity.identity_id,
              "summary": summarize(scores), "results": [score.to_dict() for score in scores]}
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _list(args) -> int:
    library = _library(args.library)
    entries = library.list()
    if args.json:
        json.dump([{"name": e.name, "id": e.identity_id, "created": e.created,
                    "encoders": e.encoders, "path": str(e.path), "error": e.error or None}
                   for e in entries], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not entries:
        print(f"no identities in {library.folder}")
        return 0
    from canvas_app.identity.library import printable

    for entry in entries:  # names from file names or files may not be printable text
        if entry.error:
            print(printable(f"{entry.path.name}  DAMAGED: {entry.error}"))
        else:
            print(printable(f"{entry.name}  id {entry.identity_id}  created {entry.created}  "
                            f"encoders {', '.join(entry.encoders)}"))
    return 0


def _show(args) -> int:
    library = _library(args.library)
    identity = library.load(args.name)
    path = str(library.path_for(args.name))
    if args.json:
        json.dump(_identity_summary(identity, path), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_identity(identity, path)
    return 0


def _delete(args) -> int:
    library = _library(args.library)
    library.delete(args.name)
    print(f"deleted {args.name!r} from {library.folder}")
    return 0


def _download_pack(args) -> int:
    from canvas_app.identity.model_paths import INSIGHTFACE_LICENSE_NOTE
    from canvas_app.identity.registry import download_pack

    if not args.accept_non_commercial_license:
        raise BadInput(f"{INSIGHTFACE_LICENSE_NOTE}; if your use is non-commercial research, "
                       f"run again with --accept-non-commercial-license",
                       field="--accept-non-commercial-license")

    def progress(done: int, total: int | None) -> None:
        shown = f"{done / 2**20:.0f} MiB" + (f" of {total / 2**20:.0f} MiB" if total else "")
        print(f"\rdownloading {args.pack}: {shown}", end="", file=sys.stderr, flush=True)

    folder = download_pack(args.pack, args.models_dir, progress)
    print(file=sys.stderr)
    print(f"insightface/{args.pack} installed in {folder}")
    return 0


def _encoders(args) -> int:
    from canvas_app.identity.model_paths import resolve_models_dir
    from canvas_app.identity.registry import available_encoders

    names = available_encoders(args.models_dir)
    for name in names:
        print(name)
    if not any(name.startswith("insightface/") for name in names):
        print(f"(no insightface packs in {resolve_models_dir(args.models_dir) / 'models'})",
              file=sys.stderr)
    return 0
