# Table rules: the tidy CSV (the data), paper-style tables (CSV, Markdown, LaTeX, and the HTML the
# report shows inline), figures (PNG in the report, PDF beside it). Report categories follow the
# studies, numbered because the report sorts them by name.


rule text_understanding_table:
    input:
        unpack(get_text_understanding_scores),
    output:
        table=report(
            "results/tables/text_understanding.csv",
            caption="../report/text_understanding_table.rst",
            category="1 Text understanding",
            labels={"result": "all scores, long format (CSV)", "data": "GLUE, STS, association"},
        ),
        summary=report(
            "results/tables/text_understanding_summary.csv",
            caption="../report/text_understanding_summary.rst",
            category="1 Text understanding",
            labels={"result": "one row per model (CSV)", "data": "GLUE, STS, association"},
        ),
        figure=report(
            "results/figures/text_understanding.png",
            caption="../report/text_understanding_figure.rst",
            category="1 Text understanding",
            labels={"result": "figure: BERT-style vs CLIP-style", "data": "GLUE, STS, association"},
        ),
        figure_pdf="results/figures/text_understanding.pdf",
        general=multiext("results/tables/paper/text_understanding_general", ".csv", ".md", ".tex"),
        general_html=report(
            "results/tables/paper/text_understanding_general.html",
            caption="../report/text_understanding_general.rst",
            category="1 Text understanding",
            labels={"result": "table: GLUE linear probes", "data": "GLUE"},
        ),
        vision_centric=multiext("results/tables/paper/text_understanding_vision_centric", ".csv", ".md", ".tex"),
        vision_centric_html=report(
            "results/tables/paper/text_understanding_vision_centric.html",
            caption="../report/text_understanding_vision_centric.rst",
            category="2 Vision-centric text understanding",
            labels={"result": "table: caption similarity and association", "data": "STS, association"},
        ),
    log:
        "logs/text_understanding_table/text_understanding.log",
    retries: rule_retries("table")
    conda:
        "../../envs/score.yaml"
    resources:
        **rule_resources("table"),
    params:
        # Rows in config order: the GLUE models, then any only in STS or association.
        models=list(dict.fromkeys(m for e in (GLUE, STS, ASSOCIATION) if e for m in e["models"])),
        version=TABLES_VERSION,
    script:
        "../../scripts/text_understanding_table.py"


rule retrieval_table:
    input:
        get_retrieval_scores,
    output:
        table=report(
            "results/tables/retrieval_{dataset}.csv",
            caption="../report/retrieval_table.rst",
            category="2 Vision-centric text understanding",
            labels={"result": "caption-image retrieval, long format (CSV)", "data": "{dataset}"},
        ),
        figure=report(
            "results/figures/retrieval_{dataset}.png",
            caption="../report/retrieval_figure.rst",
            category="2 Vision-centric text understanding",
            labels={"result": "figure: caption-image retrieval", "data": "{dataset}"},
        ),
        figure_pdf="results/figures/retrieval_{dataset}.pdf",
        paper=multiext("results/tables/paper/retrieval_{dataset}", ".csv", ".md", ".tex"),
        paper_html=report(
            "results/tables/paper/retrieval_{dataset}.html",
            caption="../report/retrieval_paper_table.rst",
            category="2 Vision-centric text understanding",
            labels={"result": "table: caption-image retrieval", "data": "{dataset}"},
        ),
    log:
        "logs/retrieval_table/{dataset}.log",
    retries: rule_retries("table")
    conda:
        "../../envs/score.yaml"
    resources:
        **rule_resources("table"),
    params:
        k=get_figure_k,
        text_models=RETRIEVAL["text_models"] if RETRIEVAL else [],
        vision_models=RETRIEVAL["vision_models"] if RETRIEVAL else [],
        version=TABLES_VERSION,
    script:
        "../../scripts/retrieval_table.py"


rule t2i_table:
    input:
        unpack(get_t2i_results),
    output:
        table=report(
            "results/tables/t2i_{dataset}.csv",
            caption="../report/t2i_table.rst",
            category="3 Text-to-image generation",
            labels={"result": "metrics, long format (CSV)", "data": "{dataset}"},
        ),
        figure=report(
            "results/figures/t2i_{dataset}.png",
            caption="../report/t2i_figure.rst",
            category="3 Text-to-image generation",
            labels={"result": "figure: the same captions per text encoder", "data": "{dataset}"},
        ),
        figure_pdf="results/figures/t2i_{dataset}.pdf",
        paper=multiext("results/tables/paper/t2i_{dataset}", ".csv", ".md", ".tex"),
        paper_html=report(
            "results/tables/paper/t2i_{dataset}.html",
            caption="../report/t2i_paper_table.rst",
            category="3 Text-to-image generation",
            labels={"result": "table: FID, Inception Score, CLIP score", "data": "{dataset}"},
        ),
    log:
        "logs/t2i_table/{dataset}.log",
    retries: rule_retries("table")
    conda:
        "../../envs/t2i.yaml"
    resources:
        **rule_resources("table"),
    params:
        encoders=T2I_ENCODERS,
        version=TABLES_VERSION,
    script:
        "../../scripts/t2i_table.py"


rule concepts_table:
    input:
        get_concept_scores,
    output:
        table=report(
            "results/tables/concepts_{dataset}.csv",
            caption="../report/concepts_table.rst",
            category="4 Concept alignment",
            labels={"result": "P@k, long format (CSV)", "data": "{dataset}"},
        ),
        summary=report(
            "results/tables/concepts_{dataset}_summary.csv",
            caption="../report/concepts_summary.rst",
            category="4 Concept alignment",
            labels={"result": "P@k, language x vision models, every k (CSV)", "data": "{dataset}"},
        ),
        figure=report(
            "results/figures/concepts_{dataset}.png",
            caption="../report/concepts_figure.rst",
            category="4 Concept alignment",
            labels={"result": "figure: P@k, language x vision models", "data": "{dataset}"},
        ),
        figure_pdf="results/figures/concepts_{dataset}.pdf",
        by_size=report(
            "results/figures/concepts_{dataset}_by_size.png",
            caption="../report/concepts_by_size_figure.rst",
            category="4 Concept alignment",
            labels={"result": "figure: P@k by model size", "data": "{dataset}"},
        ),
        by_size_pdf="results/figures/concepts_{dataset}_by_size.pdf",
        by_size_table=report(
            "results/tables/concepts_{dataset}_by_size.csv",
            caption="../report/concepts_by_size_table.rst",
            category="4 Concept alignment",
            labels={"result": "P@k by model size (CSV)", "data": "{dataset}"},
        ),
        paper=multiext("results/tables/paper/concepts_{dataset}", ".csv", ".md", ".tex"),
        paper_html=report(
            "results/tables/paper/concepts_{dataset}.html",
            caption="../report/concepts_paper_table.rst",
            category="4 Concept alignment",
            labels={"result": "table: P@k, language x vision models", "data": "{dataset}"},
        ),
    log:
        "logs/concepts_table/{dataset}.log",
    retries: rule_retries("table")
    conda:
        "../../envs/score.yaml"
    resources:
        **rule_resources("table"),
    params:
        k=get_concept_figure_k,
        text_models=CONCEPTS["text_models"] if CONCEPTS else [],
        vision_models=CONCEPTS["vision_models"] if CONCEPTS else [],
        version=TABLES_VERSION,
    script:
        "../../scripts/concepts_table.py"


rule concept_factors_table:
    input:
        get_factor_scores,
    output:
        table=report(
            "results/tables/concept_factors_{dataset}.csv",
            caption="../report/concept_factors_table.rst",
            category="5 What makes concepts align",
            labels={"result": "P@k per factor bin, long format (CSV)", "data": "{dataset}"},
        ),
        figure=report(
            "results/figures/concept_factors_{dataset}.png",
            caption="../report/concept_factors_figure.rst",
            category="5 What makes concepts align",
            labels={"result": "figure: dispersion, polysemy, frequency", "data": "{dataset}"},
        ),
        figure_pdf="results/figures/concept_factors_{dataset}.pdf",
        paper=multiext("results/tables/paper/concept_factors_{dataset}", ".csv", ".md", ".tex"),
        paper_html=report(
            "results/tables/paper/concept_factors_{dataset}.html",
            caption="../report/concept_factors_paper_table.rst",
            category="5 What makes concepts align",
            labels={"result": "table: dispersion, polysemy, frequency", "data": "{dataset}"},
        ),
    log:
        "logs/concept_factors_table/{dataset}.log",
    retries: rule_retries("table")
    conda:
        "../../envs/score.yaml"
    resources:
        **rule_resources("table"),
    params:
        k=get_concept_figure_k,
        text_models=CONCEPTS["text_models"] if CONCEPTS else [],
        vision_models=CONCEPTS["vision_models"] if CONCEPTS else [],
        version=TABLES_VERSION,
    script:
        "../../scripts/concept_factors_table.py"


rule concept_train_fractions_table:
    input:
        get_train_fraction_scores,
    output:
        table=report(
            "results/tables/concept_train_fractions_{dataset}.csv",
            caption="../report/concept_train_fractions_table.rst",
            category="5 What makes concepts align",
            labels={"result": "P@k by training share, long format (CSV)", "data": "{dataset}"},
        ),
        figure=report(
            "results/figures/concept_train_fractions_{dataset}.png",
            caption="../report/concept_train_fractions_figure.rst",
            category="5 What makes concepts align",
            labels={"result": "figure: P@k by training share", "data": "{dataset}"},
        ),
        figure_pdf="results/figures/concept_train_fractions_{dataset}.pdf",
        paper=multiext("results/tables/paper/concept_train_fractions_{dataset}", ".csv", ".md", ".tex"),
        paper_html=report(
            "results/tables/paper/concept_train_fractions_{dataset}.html",
            caption="../report/concept_train_fractions_paper_table.rst",
            category="5 What makes concepts align",
            labels={"result": "table: P@k by training share", "data": "{dataset}"},
        ),
    log:
        "logs/concept_train_fractions_table/{dataset}.log",
    retries: rule_retries("table")
    conda:
        "../../envs/score.yaml"
    resources:
        **rule_resources("table"),
    params:
        k=get_concept_figure_k,
        text_models=CONCEPTS["text_models"] if CONCEPTS else [],
        vision_models=CONCEPTS["vision_models"] if CONCEPTS else [],
        version=TABLES_VERSION,
    script:
        "../../scripts/concept_train_fractions_table.py"


rule concept_similarity_table:
    input:
        get_similarity_scores,
    output:
        **alignment_layer_figures(),
        table=report(
            "results/tables/concept_similarity_{dataset}.csv",
            caption="../report/concept_similarity.rst",
            category="6 Similarity",
            labels={"result": "every metric and layer pair, long format (CSV)", "data": "{dataset}"},
        ),
        figure=report(
            "results/figures/concept_similarity_{dataset}.png",
            caption="../report/concept_similarity_figure.rst",
            category="6 Similarity",
            labels={"result": "figure: mutual k-NN, language x vision models", "data": "{dataset}"},
        ),
        figure_pdf="results/figures/concept_similarity_{dataset}.pdf",
        by_size=report(
            "results/figures/concept_similarity_{dataset}_by_size.png",
            caption="../report/concept_similarity_by_size.rst",
            category="6 Similarity",
            labels={"result": "figure: similarity by model size", "data": "{dataset}"},
        ),
        by_size_pdf="results/figures/concept_similarity_{dataset}_by_size.pdf",
        layers=report(
            "results/figures/concept_similarity_{dataset}_layers.png",
            caption="../report/concept_similarity_layers.rst",
            category="6 Similarity",
            labels={
                "result": "figure: mutual k-NN, language x vision model layers",
                "data": "{dataset}",
            },
        ),
        layers_pdf="results/figures/concept_similarity_{dataset}_layers.pdf",
        paper=multiext("results/tables/paper/concept_similarity_{dataset}", ".csv", ".md", ".tex"),
        paper_html=report(
            "results/tables/paper/concept_similarity_{dataset}.html",
            caption="../report/concept_similarity_paper_table.rst",
            category="6 Similarity",
            labels={"result": "table: every metric, best layer pair", "data": "{dataset}"},
        ),
    log:
        "logs/concept_similarity_table/{dataset}.log",
    retries: rule_retries("table")
    conda:
        "../../envs/score.yaml"
    resources:
        **rule_resources("table"),
    params:
        text_models=CONCEPTS["text_models"] if CONCEPTS else [],
        vision_models=CONCEPTS["vision_models"] if CONCEPTS else [],
        version=TABLES_VERSION,
    script:
        "../../scripts/concept_similarity_table.py"
