"""The original repo's module name for shared helpers; they live in causal_unlearn/core/.

    from utils import UserError, atomic_write_json, fingerprint, set_seed
"""

from causal_unlearn.core.errors import UserError, exit_cleanly_on_user_error  # noqa: F401
from causal_unlearn.core.files import atomic_write_csv, atomic_write_json, atomic_write_text  # noqa: F401
from causal_unlearn.core.paths import repo_root, require_writable_dir, resolve_repo_path  # noqa: F401
from causal_unlearn.core.runtime import library_versions, set_seed, setup_logging  # noqa: F401
from causal_unlearn.core.stage import file_fingerprint, fingerprint, folder_fingerprint  # noqa: F401
