"""QA evaluation: greedy generation + ROUGE recall, gold-answer probability, truth ratio, and
(where the world's answers are known) each answer's class from the answer judge.

Each task (a split of QA rows) gives one eval log in the original repo's JSON schema
(`eval_log_forget.json` etc.: dicts keyed by item index), and `eval_log_aggregated.json` maps
`{task}.json` to each log, so existing tooling reads them. The config's `eval` block lists the
tasks (split_list, eval_task, question/answer keys).
"""

import logging
import math
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from causal_unlearn.core.data import load_split, require_fields
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.files import atomic_write_json
from causal_unlearn.core.models import decoding_model, load_family, load_model, load_tokenizer, model_dir, precision_record
from causal_unlearn.core.paths import require_writable_dir, resolve_repo_path
from causal_unlearn.core.prompts import question_prompt, render_chat
from causal_unlearn.core.stage import fingerprint, folder_fingerprint, is_current, write_record
from causal_unlearn.eval.answer_judge import classify_rows, load_catalog
from causal_unlearn.eval.decoding import (common_prefix_length, forward_after_prefix, generate_answers, pack_after_prefix,
                                          read_prefix)
from causal_unlearn.eval.rouge import rouge_recalls
from causal_unlearn.eval.strangers import NAMES_PER_TARGET, stranger_rows

logger = logging.getLogger("evaluate")
FINGERPRINT_FILE = "eval_fingerprint.json"
OTHER_PERSONS_TASK = "eval_log_other_persons"
STRANGERS_TASK = "eval_log_strangers"


@torch.no_grad()
def answer_losses(model, tokenizer, family, questions: list[str], answers: list[str], batch_size: int,
                  system: str | None = None, count_end_token: bool = True) -> list[tuple[float, int]]:
    """(summed NLL, token count) of each answer given its question: the answer's tokens and, with
    `count_end_token` (the original's and TOFU's convention), the end-of-sequence / end-of-turn
    token that closes it.

    Two savings that change no number: the token prefix every row shares (chat header, system
    prompt) is read once and its cache reused by every batch, and the output projection runs
    only where an answer token is predicted.
    """
    features = []
    for question, answer in zip(questions, answers):
        chat = render_chat(family, tokenizer, [(question, answer)], system)
        start, end = chat.answer_spans[0]  # the span ends after the end-of-turn token
        end = end if count_end_token else start + len(answer)
        encoded = tokenizer(chat.text, add_special_tokens=False, return_offsets_mapping=True)
        in_answer = [start <= s < end for s, _ in encoded["offset_mapping"]]
        features.append((encoded["input_ids"], in_answer))
    # The prefix ends before the first scored token's predictor, so every prediction is in a row's own part.
    first_scored = min((flags.index(True) for _, flags in features if any(flags)), default=1)
    shared = max(min(common_prefix_length([ids for ids, _ in features]), first_scored - 1), 0)
    decoder, head = model.get_decoder(), model.get_output_embeddings()
    prefix = read_prefix(decoder, features[0][0][:shared], model.device)
    results = []
    for begin in range(0, len(features), batch_size):
        chunk = features[begin:begin + batch_size]
        batch = pack_after_prefix([ids for ids, _ in chunk], shared, pad_left=False)
        scored = torch.zeros(batch.input_ids.shape, dtype=torch.bool)
        for row, (_, in_answer) in enumerate(chunk):
            scored[row, :len(in_answer) - shared] = torch.tensor(in_answer[shared:])
        hidden = forward_after_prefix(decoder, batch, prefix, model.device).last_hidden_state
        rows, columns = scored[:, 1:].nonzero(as_tuple=True)  # hidden state t predicts token t+1
        logprobs = torch.log_softmax(head(hidden[rows.to(model.device), columns.to(model.device)]).float(), dim=-1)
        targets = batch.input_ids[rows, columns + 1][:, None].to(model.device)
        token_logprobs = logprobs.gather(-1, targets).squeeze(-1).cpu()
        nll = torch.zeros(len(chunk), dtype=torch.float64).index_add_(0, rows, -token_logprobs.double())
        counts = torch.bincount(rows, minlength=len(chunk))
        results += [(float(nll[row]), int(counts[row])) for row in range(len(chunk))]
    return results


def _per_token(loss: tuple[float, int]) -> float:
    return loss[0] / max(loss[1], 1)


def decoded_golds(tokenizer, family, questions: list[str], answers: list[str], system: str | None,
                  max_length: int | None) -> list[str]:
    """The gold answers as the original scores ROUGE against them: the answer's tokens in the
    question-answer text, cut where that text passes `max_length` tokens (the original's
    generation.max_length; None: no cut), decoded back to text without special tokens."""
    golds = []
    for question, answer in zip(questions, answers):
        chat = render_chat(family, tokenizer, [(question, answer)], system)
        start = chat.answer_spans[0][0]
        end = start + len(answer)
        encoded = tokenizer(chat.text, add_special_tokens=False, return_offsets_mapping=True)
        kept = list(zip(encoded["input_ids"], encoded["offset_mapping"]))[:max_length]
        ids = [token for token, (first, last) in kept if first < end and last > start]
        golds.append(tokenizer.decode(ids, skip_special_tokens=True).strip())
    return golds


def task_prompts(family, tokenizer, rows: list[dict], task: dict, system: str | None = None) -> list[str]:
    return [question_prompt(family, tokenizer, row[task["question_key"]], system) for row in rows]


def evaluate_task(model, tokenizer, family, rows: list[dict], task: dict, system: str | None = None,
                  catalog: dict | None = None, decoder=None, generations: list[str] | None = None) -> dict:
    """One eval log (original schema) for one task's rows; `system` is a system prompt (prompting
    baseline). With the world's answer catalog and typed rows, the log also holds `answer_class`:
    each answer's class from the answer judge (eval/answer_judge.py). `decoder` is the model the
    answers are generated with (core.models.decoding_model); probabilities are always `model`'s.
    `generations`: the answers, when answer_tasks has already generated them."""
    questions = [row[task["question_key"]] for row in rows]
    golds = [row[task["answer_key"]] for row in rows]
    prompts = task_prompts(family, tokenizer, rows, task, system)
    if generations is None:
        generations = generate_answers(decoder or model, tokenizer, prompts, task["max_new_tokens"],
                                       task["batch_size"], task.get("max_length"))
    references = decoded_golds(tokenizer, family, questions, golds, system, task.get("max_length"))
    gold_losses = answer_losses(model, tokenizer, family, questions, golds, task["batch_size"], system,
                                task["count_end_token"])
    base_losses = gold_losses
    if task["base_answer_key"] != task["answer_key"]:
        base_losses = answer_losses(model, tokenizer, family, questions, [r[task["base_answer_key"]] for r in rows],
                                    task["batch_size"], system, task["count_end_token"])
    perturbed_losses = _perturbed_losses(model, tokenizer, family, rows, questions, task, gold_losses, system)
    log = {key: {} for key in ("avg_gt_loss", "gt_loss", "num_token_gt", "generated_text", "rouge1_recall", "rougeL_recall",
                               "average_perturb_loss", "avg_paraphrased_loss", "truth_ratio", "paraphrased_loss",
                               "perturb_loss", "num_token_paraphrased", "num_token_perturb")}
    for index, rouge in enumerate(rouge_recalls(references, generations)):
        key = str(index)
        log["avg_gt_loss"][key] = _per_token(gold_losses[index])
        log["gt_loss"][key] = gold_losses[index][0]
        log["num_token_gt"][key] = gold_losses[index][1]
        log["generated_text"][key] = [prompts[index], generations[index], references[index]]
        log["rouge1_recall"][key] = rouge["rouge1_recall"]
        log["rougeL_recall"][key] = rouge["rougeL_recall"]
        para = _per_token(base_losses[index])
        perturbs = [_per_token(loss) for loss in perturbed_losses[index]]
        log["avg_paraphrased_loss"][key] = para
        log["average_perturb_loss"][key] = perturbs
        # P_perturbed / P_paraphrased with geometric-mean token probabilities (TOFU's definition).
        log["truth_ratio"][key] = math.exp(para - sum(perturbs) / len(perturbs))
        log["paraphrased_loss"][key] = base_losses[index][0]
        log["perturb_loss"][key] = [loss[0] for loss in perturbed_losses[index]]
        log["num_token_paraphrased"][key] = base_losses[index][1]
        log["num_token_perturb"][key] = [loss[1] for loss in perturbed_losses[index]]
        if task["normalize_gt"]:
            # TOFU's real-author / world-fact score: the gold answer's share among all options.
            p_true = math.exp(-log["avg_gt_loss"][key])
            p_options = sum(math.exp(-loss) for loss in perturbs)
            log.setdefault("normalized_gt_loss", {})[key] = -math.log(p_true / (p_true + p_options))
    classes = classify_rows(rows, generations, catalog, task["name"], task["question_key"], task["answer_key"])
    if classes:
        log["answer_class"] = {str(index): cls for index, cls in enumerate(classes)}
    return log


def _perturbed_losses(model, tokenizer, family, rows, questions, task, gold_losses, system) -> list[list[tuple[float, int]]]:
    """Losses of each row's perturbed answers (a string or a list of strings)."""
    key = task["perturbed_answer_key"]
    if key == task["answer_key"]:  # WPU: perturbed == gold, reuse instead of recomputing
        return [[loss] for loss in gold_losses]
    options = [row[key] if isinstance(row[key], list) else [row[key]] for row in rows]
    flat_questions = [q for q, opts in zip(questions, options) for _ in opts]
    flat_answers = [a for opts in options for a in opts]
    flat = answer_losses(model, tokenizer, family, flat_questions, flat_answers, task["batch_size"], system,
                         task["count_end_token"])
    grouped, cursor = [], 0
    for opts in options:
        grouped.append(flat[cursor:cursor + len(opts)])
        cursor += len(opts)
    return grouped


def task_data_paths(eval_cfg: DictConfig) -> list[str]:
    """data_path is one entry per task, or one path shared by every task."""
    if isinstance(eval_cfg.data_path, str):
        return [eval_cfg.data_path] * len(eval_cfg.eval_task)
    return list(eval_cfg.data_path)


def eval_tasks(eval_cfg: DictConfig) -> list[dict]:
    """The eval block's parallel lists, zipped into one dict per task."""
    names = list(eval_cfg.eval_task)
    lists = {key: list(eval_cfg[key]) for key in ("split_list", "question_key", "answer_key",
                                                  "base_answer_key", "perturbed_answer_key")}
    lists["data_path"] = task_data_paths(eval_cfg)
    for key, values in lists.items():
        if len(values) != len(names):
            raise UserError(f"eval.{key} has {len(values)} entries but eval.eval_task has {len(names)}; "
                            f"give every eval list one entry per task.")
    shared = {"max_new_tokens": eval_cfg.generation.max_new_tokens, "max_length": eval_cfg.generation.get("max_length"),
              "batch_size": eval_cfg.batch_size, "count_end_token": eval_cfg.get("count_end_token", True)}
    # As in TOFU: tasks not named eval_log* (real authors, world facts) also get the normalised
    # probability of the gold answer against its perturbed options.
    tasks = [{"name": name, **{key: values[i] for key, values in lists.items()}, **shared,
              "normalize_gt": "eval_log" not in name} for i, name in enumerate(names)]
    other = eval_cfg.get("other_persons_split")
    if other:  # the forget QA of persons who are neither targets nor in any retain loss
        tasks.append({**tasks[0], "name": OTHER_PERSONS_TASK, "split_list": other, "normalize_gt": False})
    if eval_cfg.get("stranger_names"):  # the forget QA with never-seen names: the floor of Forget ROUGE
        tasks.append({**tasks[0], "name": STRANGERS_TASK, "normalize_gt": False, "strangers": True})
    return tasks


def task_rows(task: dict, ds_size: int) -> list[dict]:
    rows = load_split(task["data_path"], task["split_list"])[:ds_size]
    require_fields(rows, [task["question_key"], task["answer_key"]], f"eval split '{task['split_list']}'")
    if task.get("strangers"):
        rows = stranger_rows(rows, task["question_key"], task["answer_key"])
    return rows


def answer_tasks(decoder, tokenizer, family, tasks: list[dict], rows: list[list[dict]],
                 system: str | None = None) -> list[list[str]] | None:
    """Every task's greedy answers from one generate_answers call, or None where tasks must decode
    apart. A CPU decoding step costs nearly the same for 24 rows as for 48, so full batches across
    tasks save about a batch per task; each row's answer is what it gets alone (rows never read one
    another), only the rows it shares a batch with change. With a total-length cap (max_length) the
    budget depends on each batch's padded prompt length, so each task keeps its own batches."""
    if any(task.get("max_length") is not None for task in tasks):
        return None
    prompts = [task_prompts(family, tokenizer, items, task, system) for task, items in zip(tasks, rows)]
    answers = generate_answers(decoder, tokenizer, [p for group in prompts for p in group],
                               tasks[0]["max_new_tokens"], tasks[0]["batch_size"])
    per_task = []
    for group in prompts:
        per_task.append(answers[:len(group)])
        answers = answers[len(group):]
    return per_task


def evaluate_model(model, tokenizer, family, eval_cfg: DictConfig, save_dir: Path, system: str | None = None) -> dict:
    """Run every task, write `{task}.json` and `eval_log_aggregated.json` into save_dir."""
    aggregated, catalogs = {}, {}
    decoder = decoding_model(model, eval_cfg.generation.get("cpu_bf16", False))
    tasks = eval_tasks(eval_cfg)
    rows = [task_rows(task, eval_cfg.ds_size) for task in tasks]  # every split read (and checked) first
    logger.info("Answering %s", ", ".join(f"{task['name']} ({len(r)} items)" for task, r in zip(tasks, rows)))
    answers = answer_tasks(decoder, tokenizer, family, tasks, rows, system) or [None] * len(tasks)
    for task, items, generations in zip(tasks, rows, answers):
        logger.info("Evaluating %s on %d items", task["name"], len(items))
        if task["data_path"] not in catalogs:  # load (and report a missing catalog) once per folder
            catalogs[task["data_path"]] = load_catalog(task["data_path"])
        log = evaluate_task(model, tokenizer, family, items, task, system, catalogs[task["data_path"]], decoder,
                            generations)
        atomic_write_json(save_dir / f"{task['name']}.json", log)
        aggregated[f"{task['name']}.json"] = log
    atomic_write_json(save_dir / "eval_log_aggregated.json", aggregated)
    return aggregated


def eval_fingerprint(eval_cfg: DictConfig, family, system: str | None = None) -> str:
    data_files = []
    for data_path, split in zip(task_data_paths(eval_cfg), eval_cfg.split_list):
        path = Path(resolve_repo_path(data_path)) / f"{split}.json"
        data_files.append(folder_fingerprint(path.parent) if path.is_file() else f"{data_path}/{split}")
    settings = OmegaConf.to_container(eval_cfg, resolve=True)
    for key in ("save_dir", "retain_result", "run_dir"):  # where logs go / how they are aggregated: not what they hold
        settings.pop(key, None)
    settings["generation"].pop("cpu_bf16", None)
    settings.update(precision_record(eval_cfg.generation.get("cpu_bf16", False)))
    if settings.get("stranger_names"):  # logs made with another number of names are another floor
        settings["stranger_names_per_target"] = NAMES_PER_TARGET
    return fingerprint(settings, data_files, folder_fingerprint(model_dir(family, eval_cfg.model_path)), system)


def run_evaluation(eval_cfg: DictConfig, system: str | None = None) -> Path:
    """Evaluate eval_cfg.model_path into eval_cfg.save_dir unless its logs are up to date."""
    family = load_family(eval_cfg.model_family)
    save_dir = Path(eval_cfg.save_dir).expanduser()
    wanted = eval_fingerprint(eval_cfg, family, system)
    marker = save_dir / FINGERPRINT_FILE
    if not eval_cfg.overwrite and is_current(marker, wanted):
        logger.info("Eval logs in %s are up to date; skipping", save_dir)
        return save_dir
    require_writable_dir(save_dir, "eval.save_dir")
    marker.unlink(missing_ok=True)
    model = load_model(family, eval_cfg.model_path)
    model.eval()
    tokenizer = load_tokenizer(family, eval_cfg.model_path)
    evaluate_model(model, tokenizer, family, eval_cfg, save_dir, system)
    write_record(marker, wanted)
    logger.info("Wrote eval logs to %s", save_dir)
    return save_dir
