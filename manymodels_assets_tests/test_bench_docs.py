"""docs/benchmarks.md holds one section per benchmark size and a person's notes: writing one size's
figures keeps the others and the notes."""
from benchmarks.bench_docs import BEGIN, END, write_docs


def _results(size: str) -> dict:
    return {"size": size}


def test_writing_one_size_keeps_the_other_sizes_and_the_notes(tmp_path):
    (tmp_path / "docs").mkdir()
    path = write_docs(_results("full"), "# full title\n\n## Targets\n\nfull figures 1", str(tmp_path))
    page = open(path).read()
    assert "### Targets" in page and "full figures 1" in page and "(none yet)" in page
    open(path, "w").write(page.replace("(none yet)", "what stood in the way"))

    write_docs(_results("quick"), "# quick title\n\nquick figures", str(tmp_path))
    write_docs(_results("full"), "# full title\n\nfull figures 2", str(tmp_path))
    page = open(path).read()
    assert "quick figures" in page and "full figures 2" in page and "full figures 1" not in page
    assert page.index("full figures 2") < page.index("quick figures")
    assert page.count(BEGIN) == page.count(END) == 1 and "what stood in the way" in page
