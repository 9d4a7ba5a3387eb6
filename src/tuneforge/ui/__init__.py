"""The web interface (``tuneforge ui``): browse runs, start and follow training, compare methods, search
hyperparameters, try a model and check data, in a browser. FastAPI with server-rendered Jinja2 pages and
a little vanilla JavaScript, all served locally (works offline); every job is an ordinary ``tuneforge``
process writing an ordinary run folder.

Example:
    >>> from tuneforge.ui.app import create_app
    >>> app = create_app("runs")        # then: uvicorn.run(app, host="127.0.0.1", port=8765)
"""
