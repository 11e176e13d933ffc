"""Importers: files and folders become memories (kind "chunk", trust "imported").

The front door is `Assistant.import_`; the job is `job.run_import`. An importer is registered by
file suffix (`registry.register`); importing this package registers the built-in ones:
.txt .md .html (`documents`), .pdf (`pdf`), .docx (`docx`), .mbox .eml (`email`), and ChatGPT's
`conversations.json` (`chatgpt`, by file name). Imported text is only ever stored as memory text
(data), never followed as instructions.
"""

from assistant.importers import chatgpt as chatgpt
from assistant.importers import documents as documents
from assistant.importers import docx as docx
from assistant.importers import email as email
from assistant.importers import pdf as pdf
from assistant.importers.chunking import Chunk, chunk_blocks, format_source_ref, parse_source_ref
from assistant.importers.job import run_import
from assistant.importers.registry import (
    Importer,
    ImportFileError,
    SourceFile,
    importer_for,
    register,
    supported_suffixes,
)

__all__ = [
    "Chunk",
    "ImportFileError",
    "Importer",
    "SourceFile",
    "chunk_blocks",
    "format_source_ref",
    "importer_for",
    "parse_source_ref",
    "register",
    "run_import",
    "supported_suffixes",
]
