"""The course as a book: `tito book build` writes MyST pages from the module sources, the docs,
the milestones and the CLI itself into `_build/book-src/`, and jupyter-book 1.x (Sphinx) renders
them to `_build/book/`, a website that loads nothing from the internet.

    paths.py       where the book's pages live (also used by `tito module start`)
    markdown.py    links between pages: repository paths and `tito ...` commands made links
    chapters.py    a module file (jupytext percent) -> a chapter, hints folded one level at a time
    commands.py    the TITO essentials page, walked from the command tree of the CLI
    pages.py       getting started, milestones, instructors, module format
    build.py       the source folder, its _config.yml and _toc.yml, and the Sphinx run
"""
