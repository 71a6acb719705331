rule retrieval_table:
    input:
        get_retrieval_scores,
    output:
        table=report(
            "results/tables/retrieval_{dataset}.csv",
            caption="../report/retrieval_table.rst",
            category="Caption-image retrieval",
        ),
        figure=report(
            "results/figures/retrieval_{dataset}.png",
            caption="../report/retrieval_figure.rst",
            category="Caption-image retrieval",
        ),
        paper_csv="results/tables/paper/retrieval_{dataset}.csv",
        paper_md=report(
            "results/tables/paper/retrieval_{dataset}.md",
            caption="../report/retrieval_paper_table.rst",
            category="Caption-image retrieval",
        ),
        paper_tex="results/tables/paper/retrieval_{dataset}.tex",
    params:
        k=get_figure_k,
        text_models=RETRIEVAL["text_models"] if RETRIEVAL else [],
        vision_models=RETRIEVAL["vision_models"] if RETRIEVAL else [],
    log:
        "logs/retrieval_table/{dataset}.log",
    resources:
        **rule_resources("table"),
    retries: rule_retries("table")
    conda:
        "../../envs/score.yaml"
    script:
        "../../scripts/retrieval_table.py"


rule concepts_table:
    input:
        get_concept_scores,
    output:
        table=report(
            "results/tables/concepts_{dataset}.csv",
            caption="../report/concepts_table.rst",
            category="Concept alignment",
        ),
        summary=report(
            "results/tables/concepts_{dataset}_summary.csv",
            caption="../report/concepts_summary.rst",
            category="Concept alignment",
        ),
        figure=report(
            "results/figures/concepts_{dataset}.png",
            caption="../report/concepts_figure.rst",
            category="Concept alignment",
        ),
        by_size=report(
            "results/figures/concepts_{dataset}_by_size.png",
            caption="../report/concepts_by_size.rst",
            category="Concept alignment",
        ),
        by_size_table=report(
            "results/tables/concepts_{dataset}_by_size.csv",
            caption="../report/concepts_by_size.rst",
            category="Concept alignment",
        ),
        paper_csv="results/tables/paper/concepts_{dataset}.csv",
        paper_md=report(
            "results/tables/paper/concepts_{dataset}.md",
            caption="../report/concepts_paper_table.rst",
            category="Concept alignment",
        ),
        paper_tex="results/tables/paper/concepts_{dataset}.tex",
    params:
        k=get_concept_figure_k,
        text_models=CONCEPTS["text_models"] if CONCEPTS else [],
        vision_models=CONCEPTS["vision_models"] if CONCEPTS else [],
    log:
        "logs/concepts_table/{dataset}.log",
    resources:
        **rule_resources("table"),
    retries: rule_retries("table")
    conda:
        "../../envs/score.yaml"
    script:
        "../../scripts/concepts_table.py"


rule text_understanding_table:
    input:
        unpack(get_text_understanding_scores),
    output:
        table=report(
            "results/tables/text_understanding.csv",
            caption="../report/text_understanding_table.rst",
            category="Text understanding",
        ),
        summary=report(
            "results/tables/text_understanding_summary.csv",
            caption="../report/text_understanding_summary.rst",
            category="Text understanding",
        ),
        figure=report(
            "results/figures/text_understanding.png",
            caption="../report/text_understanding_figure.rst",
            category="Text understanding",
        ),
        paper_csv="results/tables/paper/text_understanding.csv",
        paper_md=report(
            "results/tables/paper/text_understanding.md",
            caption="../report/text_understanding_paper_table.rst",
            category="Text understanding",
        ),
        paper_tex="results/tables/paper/text_understanding.tex",
    params:
        # Rows in config order: the GLUE models, then any only in STS or association.
        models=list(dict.fromkeys(m for e in (GLUE, STS, ASSOCIATION) if e for m in e["models"])),
    log:
        "logs/text_understanding_table/text_understanding.log",
    resources:
        **rule_resources("table"),
    retries: rule_retries("table")
    conda:
        "../../envs/score.yaml"
    script:
        "../../scripts/text_understanding_table.py"


rule t2i_table:
    input:
        unpack(get_t2i_results),
    output:
        table=report(
            "results/tables/t2i_{dataset}.csv",
            caption="../report/t2i_table.rst",
            category="Text-to-image generation",
        ),
        figure=report(
            "results/figures/t2i_{dataset}.png",
            caption="../report/t2i_figure.rst",
            category="Text-to-image generation",
        ),
    params:
        encoders=T2I_ENCODERS,
    log:
        "logs/t2i_table/{dataset}.log",
    resources:
        **rule_resources("table"),
    retries: rule_retries("table")
    conda:
        "../../envs/t2i.yaml"
    script:
        "../../scripts/t2i_table.py"


rule concept_factors_table:
    input:
        get_factor_scores,
    output:
        table=report(
            "results/tables/concept_factors_{dataset}.csv",
            caption="../report/concept_factors.rst",
            category="What makes concepts align",
        ),
        figure=report(
            "results/figures/concept_factors_{dataset}.png",
            caption="../report/concept_factors.rst",
            category="What makes concepts align",
        ),
    params:
        k=get_concept_figure_k,
    log:
        "logs/concept_factors_table/{dataset}.log",
    resources:
        **rule_resources("table"),
    retries: rule_retries("table")
    conda:
        "../../envs/score.yaml"
    script:
        "../../scripts/concept_factors_table.py"


rule concept_train_fractions_table:
    input:
        get_train_fraction_scores,
    output:
        table=report(
            "results/tables/concept_train_fractions_{dataset}.csv",
            caption="../report/concept_train_fractions.rst",
            category="What makes concepts align",
        ),
        figure=report(
            "results/figures/concept_train_fractions_{dataset}.png",
            caption="../report/concept_train_fractions.rst",
            category="What makes concepts align",
        ),
    params:
        k=get_concept_figure_k,
    log:
        "logs/concept_train_fractions_table/{dataset}.log",
    resources:
        **rule_resources("table"),
    retries: rule_retries("table")
    conda:
        "../../envs/score.yaml"
    script:
        "../../scripts/concept_train_fractions_table.py"


rule concept_similarity_table:
    input:
        get_similarity_scores,
    output:
        table=report(
            "results/tables/concept_similarity_{dataset}.csv",
            caption="../report/concept_similarity.rst",
            category="What makes concepts align",
        ),
        figure=report(
            "results/figures/concept_similarity_{dataset}.png",
            caption="../report/concept_similarity_figure.rst",
            category="What makes concepts align",
        ),
        by_size=report(
            "results/figures/concept_similarity_{dataset}_by_size.png",
            caption="../report/concept_similarity_by_size.rst",
            category="What makes concepts align",
        ),
    log:
        "logs/concept_similarity_table/{dataset}.log",
    resources:
        **rule_resources("table"),
    retries: rule_retries("table")
    conda:
        "../../envs/score.yaml"
    script:
        "../../scripts/concept_similarity_table.py"
